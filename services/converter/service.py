"""Converter: consumes the conversion queue, converts, reports by event.

Outcomes:
- converted: the output is written atomically, `task_succeeded` is dispatched;
- the image (or its options) is bad: `task_failed` with the error's code; the
  message is acked, as retrying cannot help;
- anything else (a crashed sandbox, storage or broker trouble) raises: the
  message is requeued, and RabbitMQ dead-letters it after the configured
  number of deliveries (see infra/nameko/queues.py).

Delivery is at least once, so all of it is idempotent: converting twice
writes the same file twice, and the jobs service ignores events for tasks
that already ended.
"""
import contextvars
import logging
import time

from eventlet import GreenPool
from nameko.events import EventDispatcher
from nameko.rpc import rpc

from convertix import direct
from convertix.contract import (
    CONVERTER_SERVICE,
    STAGES,
    TASK_FAILED,
    TASK_PROGRESS,
    TASK_STARTED,
    TASK_SUCCEEDED,
    task_indexes,
)
from convertix.errors import ConvertixError
from convertix.imaging import extension, sniff
from convertix.options import validate
from infra.nameko.dependencies import DeliveryAttempt, StorageProvider
from infra.nameko.logcontext import LogContext
from infra.nameko.metrics import ServiceMetrics
from infra.nameko.queues import consume_tasks
from services.converter.ended import EndedTasks
from services.converter.engine import EnginePool
from services.converter.progress import ProgressReports
from services.converter.replies import Replies

log = logging.getLogger(__name__)


class ConverterService:
    name = CONVERTER_SERVICE

    engine = EnginePool()
    ended = EndedTasks()  # whose final event went out: a requeued chunk skips them
    progress = ProgressReports()
    storage = StorageProvider()
    dispatch = EventDispatcher()
    attempt = DeliveryAttempt()
    log_context = LogContext()
    metrics = ServiceMetrics()
    reply = Replies()  # to the gateway waiting on a /convert task

    @consume_tasks()
    def convert_task(self, message):
        """One task, or a chunk of small tasks of one job (convertix.contract
        `task_message`): each converted and reported on its own, a chunk's
        side by side on this converter's sandboxes. The message is acked
        once every task has ended; if one raised (worth a retry), the others
        still end, then the message is requeued and its next delivery
        converts only the unfinished ones (ended.py)."""
        received = time.monotonic()  # the same clock as the sandboxes' (CLOCK_MONOTONIC)
        job_id = message["job_id"]
        indexes = [i for i in task_indexes(message) if (job_id, i) not in self.ended]
        if len(indexes) <= 1:
            for index in indexes:
                self._convert(message, index, received)
            return
        pool = GreenPool(len(indexes))
        # each with its own copy of the log context, bound to its task
        running = [pool.spawn(contextvars.copy_context().run, self._convert_safely,
                              message, index, received) for index in indexes]
        try:
            errors = [error for error in (thread.wait() for thread in running) if error]
        finally:  # a killed worker takes its chunk's tasks with it (their sandboxes replaced)
            for thread in running:
                thread.kill()
        if errors:
            log.warning("%d of %d tasks of a chunk of job %s to retry", len(errors),
                        len(indexes), job_id)
            raise errors[0]

    def _convert_safely(self, message, index, received):
        """_convert; the exception to requeue for, if any, returned."""
        try:
            self._convert(message, index, received)
        except Exception as exc:
            return exc
        return None

    def _convert(self, message, index, received):
        """The message's task `index`: converted, stored, its final event sent."""
        job_id, options = message["job_id"], message.get("options")
        ref = {"job_id": job_id, "index": index, "attempt": self.attempt}
        self.log_context.bind(job_id=job_id, task_index=index)
        # debug: its end is logged at info, and every line costs (~0.25 ms)
        log.debug("converting task %s/%s (attempt %s)", job_id, index, self.attempt)
        # counted and timed; an exception below counts as outcome "error"
        conversion = self.metrics.conversion((options or {}).get("format"))

        def send(stage):  # decode is the task's start; transform, encode (from the sandbox), store
            if stage == STAGES[0]:
                self.dispatch(TASK_STARTED, ref)
            else:
                self.dispatch(TASK_PROGRESS, {**ref, "stage": stage})
        data = report = None
        try:
            options = validate(options, self.engine.output_formats())
            input_path = self.storage.input_path(job_id, index)
            if not self.storage.exists(input_path):
                raise ConvertixError("the input file is gone (job deleted?)")
            data = self.storage.read(input_path)
            # A prefetched task waits here, its input read, for a sandbox to free.
            with self.engine.reserve() as convert:
                # a fast task reports no stage at all, only its end
                # (services/converter/progress.py); counted from its sandbox's start
                report = self.progress(send, quiet_s=direct.quiet_s(message, time.time()))
                started = time.monotonic()
                result = convert(data, options, on_stage=report)
                seconds = time.monotonic() - started
                # read now: the chunk's other tasks share this worker's engine
                run = self.engine.last_run
        except ConvertixError as exc:
            log.info("task %s/%s failed: %s %s", job_id, index, exc.code, exc.message)
            info = _input_info(data)
            if report is not None:
                report.close()
            conversion.failed(exc.code, info)
            self._finish(TASK_FAILED, message, {**ref, "error": exc.to_dict(), "input": info,
                                                **_sandbox(self.engine.last_run, received)})
            self.ended.add(job_id, index)
            return
        except BaseException:
            if report is not None:
                report.close()
            conversion.errored()  # here: a chunk's worker ends once, for all its tasks
            raise
        report("store")
        # The path follows from (job, index, format): Storage.output_path.
        self.storage.write(
            self.storage.output_path(job_id, index, extension(result.format)), result.data)
        report.close()
        conversion.succeeded(result)
        log.info("task %s/%s converted to %s %dx%d, %d bytes", job_id, index, result.format,
                 result.width, result.height, len(result.data))
        self._finish(TASK_SUCCEEDED, message, {
            **ref,
            "input": result.input.to_dict(),
            "output": {"format": result.format, "width": result.width,
                       "height": result.height, "bytes": len(result.data)},
            "duration_s": round(seconds, 4),  # what the scaler's cost model learns from
            **_sandbox(run, received),
        })
        self.ended.add(job_id, index)

    def _finish(self, event, message, payload):
        """The answer to a gateway waiting on the task, then its final event
        (confirmed: it records a /convert's job, convertix/direct.py). The
        answer goes first: it does not wait on the broker's disk, and the
        message is acked only after the event is confirmed, so a converter
        lost in between leaves the task to be converted and recorded again."""
        self.reply(message, payload)
        self.dispatch(event, direct.with_record(message, payload))

    @rpc
    def formats(self):
        """What this converter reads and writes (for operators: `n.rpc.converter.formats()`)."""
        return self.engine.capabilities()


def _sandbox(run, received):
    """Which sandbox converted the task, its own clock at the request's
    arrival and the reply's departure, and when this converter received
    the task: whether the next task was held ready, and how long a sandbox
    stood idle between two, show in these
    (tests/integration/test_converters_fed.py)."""
    return {"sandbox": {**run, "received": received}} if run else {}


def _input_info(data):
    """What a failed task says of its input: its format, sniffed from its
    first bytes as the gateway did (None if unknown), and its size. The
    sandbox's error reply carries no input, so failure metrics would be
    labelled input_format="unknown" without this. None when the input was
    never read."""
    if data is None:
        return None
    return {"format": sniff(data), "bytes": len(data)}
