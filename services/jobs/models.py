"""Jobs and their tasks (one task per input file)."""
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.sql.expression import false

Base = declarative_base(name="Base")


def utcnow():
    # naive UTC: SQLite keeps no time zone; documents add the "Z".
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_user_created", "user_id", "created_at", "id"),)

    id = Column(String(32), primary_key=True)
    user_id = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False)
    options = Column(Text, nullable=False)  # JSON
    callback_url = Column(Text, nullable=True)
    # Grows by one with every committed change of the job or its tasks: the
    # `seq` of its job_changed events and the `id:` of its live events.
    seq = Column(Integer, nullable=False, default=0, server_default="0")
    # Queued tasks of earlier jobs still ahead of this one; None unless queued.
    queue_position = Column(Integer, nullable=True)
    # True while the gateway is still reading the upload: more tasks may
    # come, so the job is not final whatever its tasks' statuses, and it is
    # not listed (docs/DESIGN.md "Uploads overlap conversion").
    open = Column(Boolean, nullable=False, default=False, server_default=false())
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)

    tasks = relationship("Task", order_by="Task.index", cascade="all, delete-orphan",
                         back_populates="job")


class Task(Base):
    __tablename__ = "tasks"
    # by status: the queue positions count the queued tasks; by reuse key:
    # a repeated upload finds its earlier result (services/jobs/reuse.py)
    __table_args__ = (UniqueConstraint("job_id", "index"), Index("ix_tasks_status", "status"),
                      Index("ix_tasks_reuse_key", "reuse_key"))

    id = Column(Integer, primary_key=True, autoincrement=True)
    job_id = Column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    index = Column(Integer, nullable=False)
    filename = Column(String(255), nullable=False)
    status = Column(String(16), nullable=False)
    # decode | transform | encode | store while processing (services/jobs/progress.py)
    stage = Column(String(16), nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    input_format = Column(String(16))
    input_width = Column(Integer)
    input_height = Column(Integer)
    input_bytes = Column(Integer)
    output_format = Column(String(16))
    output_width = Column(Integer)
    output_height = Column(Integer)
    output_bytes = Column(Integer)
    # Set once the task's message is on the queue; a task left unpublished
    # (the jobs process died between commit and publish) is re-published.
    published = Column(Boolean, nullable=False, default=False)
    error_code = Column(String(32))
    error_message = Column(Text)
    # SHA-256 of (user, input bytes' SHA-256, canonical options): equal keys,
    # equal results. None when the gateway sent no hash.
    reuse_key = Column(String(64), nullable=True)
    # True: the result is an earlier task's, linked, not converted
    reused = Column(Boolean, nullable=False, default=False, server_default=false())
    updated_at = Column(DateTime, nullable=False, default=utcnow)

    job = relationship("Job", back_populates="tasks")


class StorageUsage(Base):
    """The bytes a user has stored: changed in the same transaction as each
    job change that changes them (services/jobs/quota.py), so that the quota
    check is one row, not a SUM over the user's whole history."""
    __tablename__ = "storage_usage"

    user_id = Column(String(32), primary_key=True)
    used_bytes = Column(BigInteger, nullable=False, default=0)
