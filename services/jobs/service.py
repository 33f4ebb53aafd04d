"""Jobs: job and task records, the state machine, and the conversion queue.

Entrypoints validate, call the database or the publisher, and return. What
an event or a new job changes is decided by a pure core (transitions.py);
the service reads, asks it, and applies its Change in one place (_record,
then _after_commit). Three rules keep concurrent handlers correct on SQLite
and PostgreSQL alike: every change to a job's tasks starts by writing the
job's row (which takes PostgreSQL's row lock and SQLite's write lock before
anything is read); a new job starts by locking its user's storage_usage row
(quota.lock), so quota checks of one user follow each other; and no message
is published while a transaction is open.
"""
import base64
import json
import logging
import time
import uuid
from datetime import timedelta

from nameko.events import EventDispatcher, event_handler
from nameko.messaging import consume
from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import selectinload

from convertix.contract import (
    CONVERTER_SERVICE,
    DEFAULT_PAGE,
    JOB_CHANGED,
    JOB_FINAL,
    JOB_WEBHOOK_DUE,
    JOBS_SERVICE,
    MAX_PAGE,
    TASK_FAILED,
    TASK_PROGRESS,
    TASK_STARTED,
    TASK_SUCCEEDED,
    task_indexes,
    task_message,
)
from convertix.errors import ConvertixError, NotFound, NotReady, QuotaExceeded
from convertix.imaging.formats import extension
from infra import metrics as metric_names
from infra.config.schema import CONVERTER, JOBS, read
from infra.logs import context as log_fields
from infra.nameko.capacity import ConverterCapacity
from infra.nameko.database import ModelDatabase
from infra.nameko.dependencies import ConfigProvider, StorageProvider
from infra.nameko.logcontext import LogContext
from infra.nameko.metrics import ServiceMetrics
from infra.nameko.queues import TaskPublisher, dead_letter_queue, max_attempts, tasks_ahead
from infra.nameko.timers import SettingTimer
from services.jobs import chunks, fair, progress, quota, records, retention, reuse, states, stats, transitions
from services.jobs.costs import RecentConversions
from services.jobs.doccache import DocumentCache
from services.jobs.documents import change_event, job_document
from services.jobs.groupcommit import GroupCommit
from services.jobs.metrics import status_collector
from services.jobs.models import Base, Job, Task, utcnow

log = logging.getLogger(__name__)

# A task still unpublished this long after its job was created is re-published.
UNPUBLISHED_GRACE_S = 30
SWEEP_INTERVAL_S = 30
# Queue positions are refreshed (and pushed as job_changed) this often, for
# at most QUEUE_PUSH_LIMIT jobs at the front of the queue per round.
QUEUE_INTERVAL_S = 1
QUEUE_PUSH_LIMIT = 50


class JobsService:
    name = JOBS_SERVICE

    # After a commit the objects keep what was just written: the job document
    # built right after each change would otherwise reload the job and its
    # tasks (a worker's session lives for one entrypoint call).
    db = ModelDatabase(Base, session_options={"expire_on_commit": False})
    storage = StorageProvider()
    publish_task = TaskPublisher()
    capacity = ConverterCapacity()  # sandboxes on the queue, for fair shares
    group_commit = GroupCommit()  # task events applied together (groupcommit.py)
    conversions = RecentConversions()  # their costs, for the scaler's pending_work call
    documents = DocumentCache()  # the last document built per job, while its seq holds
    config = ConfigProvider()
    log_context = LogContext()
    metrics = ServiceMetrics(status_collector)  # also jobs and tasks by status
    # job_changed, after each committed change. Unconfirmed: it is a hint
    # (the change is committed; the next event carries the whole document and
    # waiters resync by RPC), so no round trip to the broker per change.
    dispatch = EventDispatcher(use_confirms=False)
    # job_webhook_due, for the notifier: confirmed, as it triggers a delivery
    dispatch_webhook = EventDispatcher()

    # --- RPC: the gateway's API -------------------------------------------

    @rpc
    def create_job(self, job_id, user_id, options, files, callback_url=None, deadline=None,
                   open=False, queued=False):
        """Record a job with one queued task per file, then queue the tasks.

        `files`: [{"filename", "format", "bytes"}], already stored by the gateway.
        `deadline` (epoch seconds): past it, the caller has given up waiting
        (and removed the inputs), so the job is refused rather than created.
        `open`: the gateway is still reading the upload; more files come with
        add_tasks, then seal_job (docs/DESIGN.md "Uploads overlap conversion").
        `queued`: a /convert that outlived its wait (convertix/direct.py): its
        one task is on the queue already and its quota was checked, so the
        job is recorded as it is, neither checked nor reused nor queued again.
        """
        uuid.UUID(hex=job_id)
        self.log_context.bind(job_id=job_id, user_id=user_id)
        created = self.db.session.get(Job, job_id)
        if created is not None and created.user_id == user_id:
            return self._created_again(created)
        if deadline is not None and time.time() > deadline:
            raise ConvertixError("the request expired before it was handled",
                                 code="BACKEND_UNAVAILABLE")
        settings = read(self.config, JOBS)
        session = self.db.session
        # The user's row stays locked until the commit: another creation for
        # the same user, in any jobs process, reads the total only after it.
        used = quota.lock(session, user_id)
        try:
            transitions.admitted_bytes(used, files, float("inf") if queued
                                       else settings["quota_bytes"])
        except QuotaExceeded:
            session.rollback()  # nothing recorded, the row's lock let go
            raise
        job = self._new_job(job_id, user_id, options, files, callback_url)
        job.open = bool(open)
        # Same bytes and options as an earlier success of this user: that result (reuse.py).
        reuse.reuse(session, self.storage, job, files, settings["reuse_results"] and not queued)
        for task in job.tasks:
            task.published = queued
        session.add(job)
        change = transitions.on_created(transitions.snapshot(job))
        self._record(job, change)
        # The job as created: a converter may start a task before we answer.
        event = change_event(job, job_document(job))
        try:
            # At most max_tasks_in_flight_per_user of the user's tasks go on
            # the queue now; the rest as earlier ones end (services/jobs/fair.py).
            self._publish_next(user_id)
        except Exception as exc:
            self._undo_create(job, change, exc)
        log.info("job %s queued: %d tasks", job_id, len(files))
        self._after_commit(job, change, event)  # every task reused: final already
        return event["document"]

    def _created_again(self, job):
        """The same create_job again: a process that committed the job died
        before answering, and RabbitMQ redelivered the request. The job as it
        is (whatever the deadline: its inputs are kept only if the gateway
        hears of it), and its tasks queued if that process did not get to it."""
        document = job_document(job)
        self.db.session.commit()  # end the read before publishing
        log.warning("job %s was created already (a redelivered request): answered again", job.id)
        self._publish_next_safely(job.user_id)
        return document

    @rpc
    def admit_convert(self, user_id, options, file):
        """Before a /convert is handed to a converter (convertix/direct.py):
        QuotaExceeded if its input would take the user past the quota, and
        whether an earlier result of the same bytes and options would be
        reused (then the gateway creates the job: create_job reuses it).
        Reads only: the bytes are counted when the job is recorded."""
        settings = read(self.config, JOBS)
        session = self.db.session
        key = reuse.reuse_key(user_id, file.get("sha256"), options)
        reusable = bool(settings["reuse_results"] and key
                        and reuse.known_keys(session, user_id, [key]))
        used = quota.used_bytes(session, user_id)
        session.commit()
        quota.check(used, int(file.get("bytes") or 0), settings["quota_bytes"])  # 413
        # the count, for the gateway's view of it (gateway/quota_view.py)
        return {"reusable": reusable, "used_bytes": used, "quota_bytes": settings["quota_bytes"]}

    @rpc
    def get_job(self, job_id, user_id):
        """The job's document; the one built at its current seq if this
        process has it (doccache.py): a poll between two changes reads one row."""
        row = self.db.session.execute(select(Job.user_id, Job.seq).where(
            Job.id == job_id)).first() if isinstance(job_id, str) else None
        if row is None or row.user_id != user_id:  # another's: "not found", as _own_job
            raise NotFound("no such job")
        document = self.documents.get(job_id, row.seq)
        if document is None:
            document = job_document(self._own_job(job_id, user_id))
            self.documents.put(document)
        return document

    @rpc
    def list_jobs(self, user_id, status=None, limit=DEFAULT_PAGE, cursor=None):
        limit = max(1, min(int(limit or DEFAULT_PAGE), MAX_PAGE))
        # an open job is an upload still being read: no job yet for its client
        query = select(Job).where(Job.user_id == user_id, Job.open.is_(False))
        if status:
            query = query.where(Job.status == status)
        if cursor:
            created_at, job_id = _decode_cursor(cursor)
            query = query.where(or_(Job.created_at < created_at,
                                    and_(Job.created_at == created_at, Job.id < job_id)))
        query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
        jobs = list(self.db.session.execute(query).scalars())
        next_cursor = _encode_cursor(jobs[limit - 1]) if len(jobs) > limit else None
        return {"items": [job_document(job) for job in jobs[:limit]],
                "next_cursor": next_cursor}

    @rpc
    def cancel_job(self, job_id, user_id):
        """Cancel what has not finished and remove the job's stored files."""
        job, held = self._cancel_unfinished(job_id, user_id)
        job.status = states.job_status(t.status for t in job.tasks)
        quota.add(self.db.session, user_id, quota.counted(job) - held)
        self.db.session.commit()
        self.storage.delete_job(job_id)
        return self._changed(job)

    @rpc
    def delete_job(self, job_id, user_id):
        """DELETE /jobs/<id>: cancel what has not finished, remove the files
        and the records. The job is then gone for its owner (NotFound on every
        path); late results of its tasks find no task and are dropped."""
        job, held = self._cancel_unfinished(job_id, user_id)
        job.status = states.CANCELLED
        # the last change its watchers see: final, so streams and waiters end
        event = change_event(job, job_document(job))
        quota.add(self.db.session, user_id, -held)
        self.db.session.delete(job)  # its tasks with it (delete-orphan)
        self.db.session.commit()
        self.storage.delete_job(job_id)
        self._dispatch_change(event)
        self._publish_next_safely(user_id)  # its in-flight tasks no longer count

    @rpc
    def add_tasks(self, job_id, user_id, files, first):
        """More files of an open job's upload, stored by the gateway: their
        tasks, numbered from `first`, queued as create_job's (quota checked
        on what they add). The job document."""
        return self._grow(job_id, user_id, files, first)

    @rpc
    def seal_job(self, job_id, user_id, files=(), first=0, callback_url=None, deadline=None):
        """The open job's upload is read to the end: its last files (as
        add_tasks), its callback_url; from now on it may become final, and
        is listed. Past `deadline` the gateway has given up (and will
        abandon the job): refused, as create_job's."""
        return self._grow(job_id, user_id, files, first, seal=True,
                          callback_url=callback_url, deadline=deadline)

    @rpc
    def abandon_job(self, job_id, user_id):
        """The upload of a job failed after the job was created (a refused
        file, a client gone, an error): it is removed as if never made, its
        tasks cancelled, its files and records gone, no event and no webhook
        (its client was told of no job). False if there was no such job."""
        self.log_context.bind(job_id=job_id, user_id=user_id)
        now = utcnow()
        session = self.db.session
        job = self.db.session.get(Job, job_id) if self._lock_job(job_id, now) else None
        if job is None or job.user_id != user_id:
            session.rollback()
            return False
        self._remove_abandoned(job)
        return True

    def _grow(self, job_id, user_id, files, first, seal=False, callback_url=None,
              deadline=None):
        """Tasks added to an open job, and with `seal` the job sealed, in one
        transaction started by writing the job's row (then the user's quota
        row: the order every event batch takes)."""
        now = utcnow()
        session = self.db.session
        self.log_context.bind(job_id=job_id, user_id=user_id)
        job = session.get(Job, job_id) if self._lock_job(job_id, now) else None
        refusal = transitions.open_refusal(job, user_id)
        if refusal == "sealed":  # a redelivered seal (or a late add): the job as it is
            document = job_document(job)
            session.commit()
            return document
        if refusal:
            session.rollback()
            raise NotFound(refusal)
        if seal and deadline is not None and time.time() > deadline:
            session.rollback()
            raise ConvertixError("the request expired before it was handled",
                                 code="BACKEND_UNAVAILABLE")
        before = transitions.snapshot(job)
        adding = transitions.files_to_add({t.index for t in job.tasks}, files, first)
        if adding:
            settings = read(self.config, JOBS)
            used = quota.lock(session, user_id)
            try:
                transitions.admitted_bytes(used, [f for _, f in adding], settings["quota_bytes"])
            except QuotaExceeded:
                session.rollback()
                raise
            new = [Task(**transitions.new_tasks([f], first=index)[0], updated_at=now)
                   for index, f in adding]
            # reuse.py looks at the new tasks only, with the job's owner and options
            reuse.reuse(session, self.storage, _Tasks(job, new), [f for _, f in adding],
                        settings["reuse_results"])
            job.tasks.extend(new)
        if seal:
            job.open = False
            job.callback_url = callback_url
        change = transitions.on_reshaped(before, transitions.snapshot(job))
        self._record(job, change)
        event = change_event(job, job_document(job))
        if adding:  # their tasks go out as create_job's; a failure is the timer's to mend
            self._publish_next_safely(user_id)
        log.info("job %s: %d tasks added%s", job_id, len(adding), ", sealed" if seal else "")
        self._after_commit(job, change, event)
        return event["document"]

    def _remove_abandoned(self, job):
        """An abandoned job (locked, loaded) out of the records, then its files."""
        quota.add(self.db.session, job.user_id, -quota.counted(job))
        self.db.session.delete(job)  # its tasks with it (delete-orphan)
        self.db.session.commit()
        self.storage.delete_job(job.id)
        log.info("job %s abandoned: its upload failed", job.id)
        self._publish_next_safely(job.user_id)  # its tasks in flight no longer count

    @rpc
    def storage_usage(self, user_id):
        """{"used_bytes", "quota_bytes"} for GET /auth/me."""
        used = quota.used_bytes(self.db.session, user_id)
        self.db.session.commit()
        return {"used_bytes": used, "quota_bytes": read(self.config, JOBS)["quota_bytes"]}

    @rpc
    def result_files(self, job_id, user_id, index=None):
        """The succeeded results: [{"index", "filename", "format"}].

        With `index`, that one task's: NotReady while it may still succeed,
        NotFound when it never will. Files live at Storage.output_path().
        """
        job = self._own_job(job_id, user_id)
        tasks = job.tasks
        if index is not None:
            tasks = [t for t in tasks if t.index == index]
            if not tasks:
                raise NotFound(f"job has no task {index}")
            task = tasks[0]
            if task.status in states.TASK_FINAL and task.status != states.SUCCEEDED:
                raise NotFound(f"task {index} {task.status}: it has no result",
                               details={"status": task.status})
            if task.status != states.SUCCEEDED:
                raise NotReady(f"task {index} is {task.status}", details={"status": task.status})
        return [{"index": t.index, "filename": t.filename, "format": t.output_format}
                for t in tasks if t.status == states.SUCCEEDED]

    @rpc
    def ping(self):
        self.db.session.execute(text("SELECT 1"))
        return True

    @rpc
    def stats(self):
        """Jobs and tasks by status (for /api/v1/admin/stats)."""
        return stats.status_counts(self.db.session)

    @rpc
    def pending_work(self, learned=None):
        """Unfinished tasks by output format with their input bytes (for the
        scaler). With `learned` ({source: last number learned}, {} at first):
        {"pending": those, "source", "conversions": what the successes this
        process applied took, after what the scaler learned (costs.py)}."""
        pending = stats.pending_work(self.db.session)
        if learned is None:
            return pending
        return {"pending": pending, **self.conversions.since(learned)}

    # --- events from the converter ----------------------------------------

    @event_handler(CONVERTER_SERVICE, TASK_STARTED, requeue_on_error=True)
    def on_task_started(self, payload):
        self._apply(payload, transitions.event_of("started", payload))

    @event_handler(CONVERTER_SERVICE, TASK_SUCCEEDED, requeue_on_error=True)
    def on_task_succeeded(self, payload):
        self._apply(payload, transitions.event_of(
            "succeeded", payload, output=payload.get("output") or {}))

    @event_handler(CONVERTER_SERVICE, TASK_PROGRESS, requeue_on_error=True)
    def on_task_progress(self, payload):
        self._apply(payload, transitions.event_of("started", payload, stage=payload.get("stage")))

    @event_handler(CONVERTER_SERVICE, TASK_FAILED, requeue_on_error=True)
    def on_task_failed(self, payload):
        self._apply(payload, transitions.event_of(
            "failed", payload, error=payload.get("error") or {}))

    @consume(dead_letter_queue, requeue_on_error=True)
    def on_dead_letter(self, payload):
        """A task, or a chunk of tasks, RabbitMQ gave up on after the
        configured number of deliveries: each task fails on its own, as if
        it had travelled alone (those already ended ignore it)."""
        attempts = max_attempts(self.config)
        error = {"code": "INTERNAL_ERROR",
                 "message": f"conversion failed {attempts} times; the task was dead-lettered"}
        for index in task_indexes(payload):
            # the message's other fields go along: a /convert's record makes its job
            task = {**{k: v for k, v in payload.items() if k != "indexes"}, "index": index}
            log.warning("task %s/%s dead-lettered", task["job_id"], index)
            self._apply(task, transitions.event_of("failed", task, attempt=attempts, error=error))

    @timer(interval=SWEEP_INTERVAL_S)
    def publish_forgotten_tasks(self):
        """Queue tasks whose job was committed but never published.

        That happens only if this process died between the two; publishing a
        task twice is harmless (see services/converter/service.py).
        Also the fair-sharing refill's safety net: a user's waiting tasks go
        out (up to the cap) even if the event that should have sent them was
        handled by a process that died.
        """
        session = self.db.session
        cutoff = utcnow() - timedelta(seconds=UNPUBLISHED_GRACE_S)
        users = fair.waiting_users(session, cutoff)
        session.commit()  # end the read before publishing
        for user_id in users:
            if self._publish_next(user_id, created_before=cutoff):
                log.warning("published waiting tasks of user %s from the timer", user_id)

    @SettingTimer.decorator(JOBS, "retention_interval_s")
    def remove_expired_jobs(self):
        """Retention: final jobs older than JOBS.retention_s lose their files,
        then their records; at most JOBS.retention_batch per round, every
        JOBS.retention_interval_s. Every jobs process sweeps: retention.remove
        locks what it deletes, so two sweeps remove each job once."""
        settings = read(self.config, JOBS)
        session = self.db.session
        self._remove_stale_open_jobs(settings)
        cutoff = utcnow() - timedelta(seconds=settings["retention_s"])
        expired = retention.expired(session, cutoff, settings["retention_batch"])
        session.commit()
        if not expired:
            return 0
        for job_id in expired:  # files first: a crash leaves records to retry, not orphan files
            self.storage.delete_job(job_id)
        removed = retention.remove(session, expired, cutoff)
        session.commit()
        metric_names.RETENTION_REMOVED.labels("jobs").inc(removed)
        log.info("retention: removed %d jobs last changed before %s", removed, cutoff)
        return removed

    def _remove_stale_open_jobs(self, settings):
        """Open jobs unchanged for JOBS.open_job_timeout_s: their gateway
        died mid-upload (one that lives abandons a failed upload itself), so
        no client was told of them. Removed as abandon_job does; the count."""
        session = self.db.session
        cutoff = utcnow() - timedelta(seconds=settings["open_job_timeout_s"])
        stale = retention.stale_open(session, cutoff, settings["retention_batch"])
        session.commit()
        removed = 0
        for job_id in stale:
            job = session.get(Job, job_id) if self._lock_job(job_id, utcnow()) else None
            if job is None or not retention.still_stale(job, cutoff):
                session.rollback()  # sealed, changed or gone meanwhile
                continue
            log.warning("job %s: open since %s, its upload never ended: removed",
                        job_id, job.created_at)
            self._remove_abandoned(job)
            removed += 1
        return removed

    @timer(interval=QUEUE_INTERVAL_S)
    def refresh_queue_positions(self):
        """Move queued jobs up as the queue drains; each move is a change (seq, event)."""
        session = self.db.session
        rows = session.execute(
            select(Job.id, func.count(Task.id)).join(Task).where(Task.status == states.QUEUED)
            .group_by(Job.id, Job.created_at).order_by(Job.created_at, Job.id)).all()
        stored = dict(session.execute(
            select(Job.id, Job.queue_position).where(Job.status == states.QUEUED)).all())
        session.commit()  # end the read before writing
        moved = [(job_id, position)
                 for job_id, position in progress.queue_positions(rows).items()
                 if job_id in stored and stored[job_id] != position]
        changed = []
        for job_id, position in moved[:QUEUE_PUSH_LIMIT]:
            # Guarded: another jobs process may have moved it, or a task started.
            if session.execute(
                    update(Job).where(Job.id == job_id, Job.status == states.QUEUED,
                                      Job.queue_position.is_distinct_from(position))
                    .values(queue_position=position, seq=Job.seq + 1)).rowcount:
                changed.append(job_id)
        session.commit()  # one commit for the round, then one event per moved job
        if changed:
            jobs = session.execute(select(Job).where(Job.id.in_(changed))
                                   .options(selectinload(Job.tasks))).scalars()
            for job in jobs:
                self._changed(job)
        session.commit()

    # --- helpers ----------------------------------------------------------

    def _changed(self, job):
        """After a commit: publish job_changed; the job document.

        A failed dispatch loses no change: it is committed, the next change
        carries the whole document again, and waiters resync by RPC.
        """
        document = job_document(job)
        self._dispatch_change(change_event(job, document))
        return document

    def _dispatch_change(self, event):
        # built from the rows just committed: what get_job would build at this seq
        self.documents.put(event["document"])
        try:
            self.dispatch(JOB_CHANGED, event)
        except Exception:
            log.warning("job %s: job_changed (seq %s) not dispatched", event["job_id"],
                        event["seq"], exc_info=True)
        self._dispatch_webhook(event)

    def _dispatch_webhook(self, event):
        if event["callback_url"] and event["document"]["status"] in JOB_FINAL:
            try:
                self.dispatch_webhook(JOB_WEBHOOK_DUE, event)
            except Exception:  # as job_changed's: the change itself is committed
                log.error("job %s: its webhook was not handed to the notifier",
                          event["job_id"], exc_info=True)

    def _webhook_again(self, job_id):
        """A task's final event again: RabbitMQ redelivers it when the process
        handling it died, maybe after its commit but before the webhook went
        to the notifier. So hand it over again; the notifier keeps one
        delivery per job, so a webhook already on its way is not sent twice."""
        job = self.db.session.get(Job, job_id, options=[selectinload(Job.tasks)])
        event = change_event(job, job_document(job)) if job is not None else None
        self.db.session.commit()
        if event is not None:
            self._dispatch_webhook(event)

    def _publish_next(self, user_id, created_before=None):
        """Publish the user's waiting tasks while fewer than the cap are in
        flight; the number published. The user's refill lock (this process's,
        and fair.lock_user's across jobs processes) is held from the read to
        the commit that marks them published: the one transaction stays open
        while they are published (no row is locked meanwhile), so two
        processes never send the same tasks. Marked after their messages are
        out (one UPDATE for all), so a crash in between publishes them twice,
        never not at all."""
        session = self.db.session
        with fair.user_lock(user_id):
            fair.lock_user(session, user_id)
            rows = fair.next_tasks(session, user_id, self._cap, created_before,
                                   most=self._cap_at_most())
            published = []
            try:
                for chunk in self._chunks(rows):  # small tasks of a job share a message
                    _, job_id, _, options, *_ = chunk[0]
                    self.publish_task(task_message(job_id, [row[2] for row in chunk],
                                                   json.loads(options)))
                    published.extend(row[0] for row in chunk)
            finally:  # what did go out is marked, even if a later publish failed
                if published:
                    # no objects to update: the refill reads rows, and a
                    # Task's `published` is never read from the session
                    # (the default walks every Task it holds: ~10% of the
                    # service's CPU in a batch of 50-file jobs)
                    session.execute(update(Task).where(Task.id.in_(published))
                                    .values(published=True)
                                    .execution_options(synchronize_session=False))
                session.commit()  # and the lock goes
        return len(rows)

    def _chunks(self, rows):
        """The rows of fair.next_tasks grouped into messages (chunks.py),
        each task priced by the cost model."""
        settings = read(self.config, CONVERTER)
        estimate = self.conversions.estimate_s
        return chunks.chunks(
            [(row, row[1], estimate(json.loads(row[3]).get("format") or row[5], row[4]))
             for row in rows], settings["chunk_max_tasks"], settings["chunk_max_s"])

    def _cap(self, session):
        """A user's tasks on the queue at most: configured, or a fair share."""
        configured = read(self.config, JOBS)["max_tasks_in_flight_per_user"]
        if configured:
            return configured
        return fair.share(self.capacity.sandboxes(), fair.active_users(session),
                          tasks_ahead(self.config))

    def _cap_at_most(self):
        """What _cap can be, without counting the users: the configured cap,
        or the whole window (a user alone)."""
        configured = read(self.config, JOBS)["max_tasks_in_flight_per_user"]
        return configured or fair.share(self.capacity.sandboxes(), 1, tasks_ahead(self.config))

    def _publish_next_safely(self, user_id):
        """After a task ended: the next one of its user. A failure here loses
        nothing: publish_forgotten_tasks sends it within a sweep."""
        try:
            self._publish_next(user_id)
        except Exception:
            log.warning("user %s: next tasks not published now", user_id, exc_info=True)

    def _remove_inputs(self, job):
        """A final job needs its inputs no more (a redelivered task finds none
        and fails, which a final task ignores)."""
        for path in retention.input_paths(self.storage, job):
            self.storage.delete(path)

    def _own_job(self, job_id, user_id):
        job = self.db.session.get(Job, job_id) if isinstance(job_id, str) else None
        # Another user's job is "not found", never "forbidden": its existence is not revealed.
        if job is None or job.user_id != user_id:
            raise NotFound("no such job")
        return job

    def _cancel_unfinished(self, job_id, user_id):
        """(The owner's job, locked, with its unfinished tasks cancelled (not
        committed); the bytes it held before: quota.counted)."""
        now = utcnow()
        self._lock_job(job_id, now)  # before any read; rolled back if not found
        job = self._own_job(job_id, user_id)
        held = quota.counted(job)
        for task in job.tasks:
            new = states.next_task_status(task.status, "cancelled")
            if new:
                task.status, task.updated_at = new, now
        job.queue_position = None
        return job, held

    def _lock_job(self, job_id, now):
        """Write the job's row first: that locks it (PostgreSQL) or the
        database (SQLite) before anything is read, so that concurrent changes
        to one job serialise. False if there is no such job."""
        return bool(self.db.session.execute(
            update(Job).where(Job.id == job_id).values(updated_at=now, seq=Job.seq + 1)).rowcount)

    def _apply(self, payload, event):
        """Move one task on `event` (a transitions.TaskEvent), together with
        the other events that arrived with it (groupcommit.py): returns
        once the batch is committed. The Change."""
        self.log_context.bind(job_id=payload.get("job_id"), task_index=payload.get("index"))
        # The batch runs in whichever worker leads it: each event takes its
        # own context along (trace, user, job), for its lines and its events.
        fields = {k: v for k, v in log_fields.current().items() if k in log_fields.FIELDS}
        return self.group_commit((payload, event, fields), self._apply_batch)

    def _apply_batch(self, items):
        """[(payload, event, log fields)] in one transaction; a Change per item. If the
        batch fails, each is tried alone, so that one bad event fails alone
        (its message is requeued) and the others go through."""
        try:
            return self._apply_together(items)
        except Exception:
            self.db.session.rollback()
            if len(items) == 1:
                raise
            log.warning("a batch of %d task events failed; applying them one by one",
                        len(items), exc_info=True)
        results = []
        for item in items:
            try:
                results.append(self._apply_together([item]))
            except Exception as exc:
                self.db.session.rollback()
                results.append(exc)
        return [result[0] if isinstance(result, list) else result for result in results]

    def _apply_together(self, items):
        """Lock every job the events touch (in one order), load them, ask the
        core about each event in arrival order, commit once; then per job
        one job_changed (and its inputs removed if it became final), and
        per user one refill."""
        session = self.db.session
        now = utcnow()
        jobs = self._lock_jobs({payload.get("job_id") for payload, _, _ in items})
        # /convert's jobs are created here from their final event (records.py)
        known = set(jobs)
        deltas, made = records.create_missing(items, jobs, now)
        changes, touched, drops, refills, again = [], {}, [], [], []
        origin, own = {}, log_fields.current()  # job id -> its last event's context; the leader's
        for payload, event, fields in items:
            job_id, index = payload.get("job_id"), payload.get("index")
            job = jobs.get(job_id)
            change = transitions.on_task_event(
                transitions.snapshot(job) if job else None, index, event, now)
            changes.append(change)
            if not change.applied:
                if change.drop_output:
                    drops.append((job_id, index, change.drop_output))
                if change.webhook_again and job_id not in again:
                    again.append(job_id)
                continue
            task = next(t for t in job.tasks if t.index == index)
            for column, value in change.task.items():
                setattr(task, column, value)
            job.status = change.job_status
            if change.clear_queue_position:
                job.queue_position = None
            deltas[job.user_id] = deltas.get(job.user_id, 0) + change.quota_delta
            touched.setdefault(job_id, []).append((index, change))
            origin[job_id] = fields
            # A job recorded from its final event was never counted in flight
            # (fair.py counts recorded tasks): its end frees no place, refills nothing.
            if change.refill and job_id in known and job.user_id not in refills:
                refills.append(job.user_id)
            if change.status == states.SUCCEEDED:
                self.conversions.record(payload)
            with log_fields.bound(**fields):
                log.info("task %s/%s %s%s (attempt %d); job %s", job_id, index, task.status,
                         f" ({task.stage})" if task.stage else "", task.attempts, job.status)
        for job_id in touched:  # one change of the job for the whole batch
            jobs[job_id].seq += 1
            jobs[job_id].updated_at = now
        records.insert(session, made)  # as the events left them: no INSERT then UPDATEs
        for user_id in sorted(deltas):  # after the jobs' rows, in one order
            quota.add(session, user_id, deltas[user_id])
        session.commit()
        for job_id, index, fmt in drops:
            self.storage.delete(self.storage.output_path(job_id, index, extension(fmt)))
        for job_id, moved in touched.items():
            job = jobs[job_id]
            # its lines and its job_changed carry its own trace and user
            self.log_context.bind(**{**origin[job_id], "task_index": moved[-1][0]})
            if any(change.remove_inputs for _, change in moved):
                self._remove_inputs(job)
            if any(change.announce for _, change in moved):
                self._dispatch_change(change_event(job, job_document(job)))
        for job_id in again:  # a redelivered final event: its webhook handed over again
            self._webhook_again(job_id)
        for user_id in refills:
            self._publish_next_safely(user_id)
        self.log_context.bind(**{key: own.get(key) for key in log_fields.FIELDS})
        return changes

    def _lock_jobs(self, job_ids):
        """{job id: job with its tasks} of those that exist, their rows
        written first (in sorted order: two batches never wait on each other
        in opposite orders) to lock them before anything is read, as
        _lock_job does; the write changes nothing (seq moves only for the
        jobs an event changes)."""
        session = self.db.session
        locked = [job_id for job_id in sorted(i for i in job_ids if isinstance(i, str))
                  if session.execute(update(Job).where(Job.id == job_id)
                                     .values(seq=Job.seq)  # changes nothing: no object to sync
                                     .execution_options(synchronize_session=False)).rowcount]
        if not locked:
            return {}
        # the jobs and all their tasks in two SELECTs: their status follows from them
        return {job.id: job for job in session.execute(
            select(Job).where(Job.id.in_(locked)).options(selectinload(Job.tasks))).scalars()}

    # --- applying a Change (services/jobs/transitions.py) ----------------------

    def _record(self, job, change):
        """The job's part of a Change and the user's total, committed together."""
        job.status = change.job_status
        if change.clear_queue_position:
            job.queue_position = None
        quota.add(self.db.session, job.user_id, change.quota_delta)
        self.db.session.commit()

    def _after_commit(self, job, change, event):
        """What a committed Change asks of files and the broker: the inputs of
        a final job go, then its watchers hear of the change (the refill is
        the caller's: a new job's must succeed, a task end's may be retried)."""
        if change.remove_inputs:
            self._remove_inputs(job)
        if change.announce:
            self._dispatch_change(event)

    def _new_job(self, job_id, user_id, options, files, callback_url):
        """The job record with its tasks, queued, not added to the session yet."""
        now = utcnow()
        ahead = self.db.session.execute(
            select(func.count(Task.id)).where(Task.status == states.QUEUED)).scalar_one()
        job = Job(id=job_id, user_id=user_id, status=states.QUEUED,
                  options=json.dumps(options), callback_url=callback_url,
                  created_at=now, updated_at=now, seq=1, queue_position=ahead)
        job.tasks = [Task(**columns, updated_at=now) for columns in transitions.new_tasks(files)]
        return job

    def _undo_create(self, job, change, exc):
        """The new job's tasks could not be queued: leave nothing behind. A
        task that did get queued finds no input and no job, and its events
        are ignored."""
        log.exception("could not queue job %s", job.id)
        session = self.db.session
        quota.add(session, job.user_id, -change.quota_delta)
        session.delete(job)
        session.commit()
        self.storage.delete_job(job.id)
        raise ConvertixError(f"the message broker refused the job: {exc}",
                             code="BACKEND_UNAVAILABLE")

class _Tasks:
    """A job seen with only some of its tasks (those being added), for reuse.reuse."""

    def __init__(self, job, tasks):
        self.id, self.user_id, self.options, self.tasks = job.id, job.user_id, job.options, tasks


def _encode_cursor(job):
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_CHARS = 512


def _decode_cursor(cursor):
    from datetime import datetime

    try:
        if len(cursor) > MAX_CURSOR_CHARS:  # ours are ~100; a longer one is not ours
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(job_id)
    # RecursionError: JSON nested thousands deep (a 500 before)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ConvertixError("cursor is not valid", details={"field": "cursor"},
                             code="BAD_REQUEST") from exc
