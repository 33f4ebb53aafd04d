"""Webhook deliveries (one per job) and their attempts: the notifier's own tables.

A pending delivery lives here, with the time of its next attempt, so a
notifier that restarts (or another notifier process) picks it up; nothing
about a delivery is kept only in memory.
"""
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base(name="Base")

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the other services


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    # One delivery per job: the primary key makes a repeated event a no-op.
    job_id = Column(String(32), primary_key=True)
    user_id = Column(String(32), nullable=False)
    callback_url = Column(Text, nullable=False)
    body = Column(Text, nullable=False)   # the exact JSON that is signed and sent
    status = Column(String(16), nullable=False)
    round = Column(Integer, nullable=False, default=1)      # 1, then +1 per redelivery
    attempts = Column(Integer, nullable=False, default=0)   # in this round
    next_attempt_at = Column(DateTime, nullable=True)       # pending only
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    job_id = Column(String(32), ForeignKey("deliveries.job_id", ondelete="CASCADE"),
                    nullable=False, index=True)
    round = Column(Integer, nullable=False)
    number = Column(Integer, nullable=False)       # 1.. within its round
    at = Column(DateTime, nullable=False)          # when it started
    http_status = Column(Integer, nullable=True)
    error = Column(Text, nullable=True)
    latency_ms = Column(Float, nullable=False)
    outcome = Column(String(16), nullable=False)   # delivered | retry | failed
