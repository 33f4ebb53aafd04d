"""POST /convert: the task goes straight to a converter; the job is recorded after.

The request waits on no commit of the jobs service (convertix/direct.py):
the quota is checked (by this process's view of the user's bytes where it can
tell, gateway/quota_view.py, else by a read-only RPC that also says whether
an earlier result would be reused), the input is stored, the task is put on
the conversion queue (confirmed) with its record and this process's event
queue to answer to, and the converter's answer wakes the request. The
converter then sends the task's final event, which records the job, its
result and the user's bytes (services/jobs/records.py), and acks the task
only once that event is on a durable queue: the record follows the answer
by milliseconds, and a converter lost in between leaves the task to be
converted and recorded again (convertix/direct.py).

If the answer does not come within GATEWAY.sync_convert_timeout_s, the job
is recorded now (create_job, `queued`: its task is on the queue already)
and its document answered with 202, as for any job; the final event moves it
later. If an earlier result would be reused, the job is created as POST
/jobs creates it, which reuses the result, final at once.
"""
import time
import uuid

from flask import current_app

from convertix import direct
from convertix.contract import JOB_FINAL, JOBS_SERVICE
from convertix.errors import NotFound, QuotaExceeded
from convertix.imaging import capabilities
from gateway.auth import current_user_id
from gateway.events import job_events
from gateway.quota_view import quota_view
from gateway.requestlog import bind_job
from gateway.rpc import rpc_pool
from gateway.slots import convert_slot
from gateway.storage import reuse_on, storage
from gateway.tasks import task_sender
from gateway.uploads import parse_callback_url, parse_options, store_upload, upload_name


def _rpc(method, *args, **kwargs):
    return rpc_pool(current_app).call(JOBS_SERVICE, method, *args, **kwargs)


def convert(upload, received):
    """The job document of a /convert of `upload`: final, or not yet (202)."""
    caps, config = capabilities(), current_app.config
    options = parse_options(received.options, caps["output"])
    callback_url = parse_callback_url(received.callback_url)
    job_id, user_id = uuid.uuid4().hex, current_user_id()
    bind_job(job_id)  # this request's later lines, and the services', carry it
    events = job_events(current_app)
    timeout = float(config["SYNC_CONVERT_TIMEOUT_S"])
    with convert_slot(user_id), events.watch(job_id) as waiter:  # watch before the task goes
        file = _store(upload, job_id, caps, config)
        doc = _hand_over(job_id, user_id, options, file, callback_url, events)
        if doc is None:  # on its way to a converter
            waiter.offer(direct.PENDING_SEQ, direct.pending(job_id))
            doc = events.wait_final(waiter, lambda: _read(job_id, user_id, waiter), timeout)
            if doc["status"] not in JOB_FINAL:  # outlived the wait: recorded now
                doc = _record_now(job_id, user_id, options, file, callback_url)
        elif doc["status"] not in JOB_FINAL:
            waiter.offer(doc["seq"], doc)
            doc = events.wait_final(waiter, lambda: _rpc("get_job", job_id, user_id), timeout)
    _count_output(user_id, doc)
    return doc


def _store(upload, job_id, caps, config):
    store = storage()
    try:
        fmt, size, sha256 = store_upload(upload, store.input_path(job_id, 0), store,
                                         caps["input"], config["MAX_FILE_BYTES"],
                                         hashed=reuse_on(current_app))
    except BaseException:
        store.delete_job(job_id)
        raise
    return {"filename": upload_name(upload, fmt), "format": fmt, "bytes": size, "sha256": sha256}


def _hand_over(job_id, user_id, options, file, callback_url, events):
    """Checked, then on the queue (None), or a job created with a reused
    result (its document). Nothing stays behind if refused."""
    try:
        admitted = _admit(user_id, options, file)
        if admitted["reusable"]:
            deadline = time.time() + float(current_app.config["RPC_TIMEOUT_S"]) / 2
            return _rpc("create_job", job_id, user_id, options, [file],
                        callback_url=callback_url, deadline=deadline)
        record = {**file, "user_id": user_id, "options": options,
                  "callback_url": callback_url, "created_at": time.time()}
        answer_by = time.time() + float(current_app.config["SYNC_CONVERT_TIMEOUT_S"])
        task_sender(current_app).send(direct.task_message(job_id, options, record,
                                                          events.reply_to(), answer_by))
        return None
    except QuotaExceeded as exc:  # its byte counts crossed RPC as text (nameko)
        storage().delete_job(job_id)
        details = {k: int(v) for k, v in exc.details.items()}
        quota_view(current_app).learned(user_id, details["used_bytes"], details["quota_bytes"])
        raise QuotaExceeded(exc.message, details=details)
    except BaseException:
        storage().delete_job(job_id)  # not handed over: nothing stays behind
        raise


def _admit(user_id, options, file):
    """The quota checked, by this process's view of the user's bytes where it
    can tell (gateway/quota_view.py), else by the jobs service, which also
    says whether an earlier result would be reused: with reuse on, it is
    always asked, as that answer may save the conversion."""
    view, adding = quota_view(current_app), int(file.get("bytes") or 0)
    if not reuse_on(current_app) and view.admit(user_id, adding):
        return {"reusable": False}
    admitted = _rpc("admit_convert", user_id, options, file)
    if "used_bytes" in admitted:  # a jobs service older than the view sends none
        view.learned(user_id, admitted["used_bytes"], admitted["quota_bytes"], adding)
    return admitted


def _count_output(user_id, doc):
    """An answered output's bytes, into this process's view of the user's."""
    view = quota_view(current_app)
    for task in doc.get("tasks") or ():
        view.add(user_id, (task.get("output") or {}).get("bytes") or 0)


def _read(job_id, user_id, waiter):
    """The job by RPC when its events may have been missed: recorded, or
    still on its way (what the waiter holds)."""
    try:
        return _rpc("get_job", job_id, user_id)
    except NotFound:
        return waiter.document


def _record_now(job_id, user_id, options, file, callback_url):
    """The job of a task still on its way, recorded for the client to follow.
    Its final event may have recorded it meanwhile: then that one."""
    try:
        return _rpc("create_job", job_id, user_id, options, [file],
                    callback_url=callback_url, queued=True)
    except Exception:
        try:
            return _rpc("get_job", job_id, user_id)
        except Exception:
            pass
        raise
