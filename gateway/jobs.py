"""The job API (SPEC, "Jobs"): upload, follow, download, cancel, convert."""
import logging
import time
import uuid

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from flask_jwt_extended import jwt_required

from convertix.contract import (
    DEFAULT_PAGE,
    JOB_FINAL,
    JOB_STATUSES,
    JOBS_SERVICE,
    MAX_PAGE,
    TASK_FINAL,
)
from convertix.errors import ConvertixError, NotFound, NotReady, QuotaExceeded, error
from convertix.imaging import capabilities, extension, mime_type
from convertix.imaging.formats import file_types
from convertix.storage import result_filename
from gateway.archive import stream_zip
from gateway.auth import current_user_id
from gateway.convert import convert as direct_convert
from gateway.limits import access_token_required, job_creation_limit
from gateway.overlap import StreamedUpload, streamed
from gateway.requestlog import bind_job
from gateway.rpc import ACCEPT_POOL, rpc_pool
from gateway.storage import reuse_on, storage
from gateway.uploads import (
    MULTIPART,
    check_count,
    parse_callback_url,
    parse_options,
    sent,
    store_upload,
    upload_name,
)

bp = Blueprint("jobs", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

def _rpc(method, *args, **kwargs):
    return rpc_pool(current_app).call(JOBS_SERVICE, method, *args, **kwargs)


# Accepting a job has a short RPC timeout of its own (GATEWAY.accept_rpc_timeout_s):
# where a broker member went with the call, the client hears 503 and
# Retry-After soon, and tries again here or on another gateway.
def _accept_rpc(method, *args, **kwargs):
    return rpc_pool(current_app, ACCEPT_POOL).call(JOBS_SERVICE, method, *args, **kwargs)


def _accept_timeout_s():
    return rpc_pool(current_app, ACCEPT_POOL).timeout


def _submit(received, job_id=None):
    """Validate and store what was sent (multipart or a raw body: gateway/uploads.py
    `sent`), create the job: its document."""
    caps = capabilities()
    config = current_app.config
    options = parse_options(received.options, caps["output"])
    callback_url = parse_callback_url(received.callback_url)
    uploads = received.uploads
    check_count(uploads, config["MAX_FILES"])
    job_id = job_id or uuid.uuid4().hex
    bind_job(job_id)  # this request's later lines, and the services', carry it
    store = storage()
    try:
        files = []
        for index, upload in enumerate(uploads):
            fmt, size, sha256 = store_upload(upload, store.input_path(job_id, index), store,
                                             caps["input"], config["MAX_FILE_BYTES"],
                                             hashed=reuse_on(current_app))
            files.append({"filename": upload_name(upload, fmt), "format": fmt,
                          "bytes": size, "sha256": sha256})
        # Past half our RPC timeout the service refuses rather than creates
        # the job, so a job never exists whose inputs we removed on a timeout.
        deadline = time.time() + _accept_timeout_s() / 2
        doc = _accept_rpc("create_job", job_id, current_user_id(), options, files,
                   callback_url=callback_url, deadline=deadline)
        log.info("job %s accepted: %d files, to %s", job_id, len(files), options.get("format"))
        return doc
    except QuotaExceeded as exc:  # its byte counts crossed RPC as text (nameko)
        store.delete_job(job_id)
        raise QuotaExceeded(exc.message, details={k: int(v) for k, v in exc.details.items()})
    except BaseException:
        store.delete_job(job_id)  # not accepted: nothing stays behind
        raise


def _accepted(doc):
    response = jsonify(doc)
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/jobs/{doc['id']}"
    return response


@bp.get("/formats")
def formats():
    return jsonify(formats_document(capabilities()))


def formats_document(caps):
    """What clients need to know of formats and statuses, so that none of
    them keeps its own copy of the server's tables: the capabilities, each
    format's file endings and media types, and the final statuses."""
    return {**caps, **file_types(set(caps["input"]) | set(caps["output"])),
            "final_statuses": {"job": sorted(JOB_FINAL), "task": sorted(TASK_FINAL)}}


@bp.post("/jobs")
@job_creation_limit
@access_token_required  # jwt_required(), the token verified once (limits.py)
def create_job():
    if request.mimetype == MULTIPART:  # converting while the rest is read: gateway/overlap.py
        return _accepted(_submit_streamed())
    return _accepted(_submit(sent(request)))


def _submit_streamed():
    """A multipart upload whose job is made as its first file is stored."""
    config = current_app.config
    job_id = uuid.uuid4().hex
    bind_job(job_id)
    upload = StreamedUpload(
        job_id, current_user_id(), _accept_rpc, storage(), capabilities(),
        {"max_files": config["MAX_FILES"], "max_file_bytes": config["MAX_FILE_BYTES"]},
        hashed=reuse_on(current_app), timeout_s=_accept_timeout_s())
    doc = streamed(request, upload)
    log.info("job %s accepted: %d files, to %s", job_id, len(doc["tasks"]),
             doc["options"].get("format"))
    return doc


@bp.get("/jobs")
@jwt_required()
def list_jobs():
    status = request.args.get("status") or None
    if status and status not in JOB_STATUSES:
        raise ConvertixError("status must be one of " + ", ".join(JOB_STATUSES),
                             code="BAD_REQUEST", details={"field": "status"})
    limit = _int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    return jsonify(_rpc("list_jobs", current_user_id(), status=status, limit=limit,
                        cursor=request.args.get("cursor") or None))


def _int_arg(name, default, lo, hi):
    raw = request.args.get(name)
    try:
        value = default if raw is None else int(raw, 10)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise ConvertixError(f"{name} must be an integer from {lo} to {hi}",
                             code="BAD_REQUEST", details={"field": name})
    return value


@bp.get("/jobs/<job_id>")
@jwt_required()
def get_job(job_id):
    return jsonify(_rpc("get_job", job_id, current_user_id()))


@bp.delete("/jobs/<job_id>")
@jwt_required()
def delete_job(job_id):
    # cancelled, files and records removed: 404 on every path after this
    _rpc("delete_job", job_id, current_user_id())
    return "", 204


@bp.get("/jobs/<job_id>/tasks/<int:index>/result")
@jwt_required()
def result(job_id, index):
    (found,) = _rpc("result_files", job_id, current_user_id(), index=index)
    return _send_result(job_id, found)


@bp.get("/jobs/<job_id>/archive")
@jwt_required()
def archive(job_id):
    doc = _rpc("get_job", job_id, current_user_id())
    if doc["status"] not in JOB_FINAL:
        raise NotReady(f"the job is {doc['status']}", details={"status": doc["status"]})
    # Written while sent (gateway/archive.py): no temporary copy of the results.
    entries = [(_result_path(job_id, found), f"{found['index']}-{_download_name(found)}")
               for found in _rpc("result_files", job_id, current_user_id())]
    return Response(stream_zip(entries), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="convertix-{job_id}.zip"'})


@bp.post("/convert")
@job_creation_limit
@access_token_required
def convert():
    """One file, answered with the bytes if done within a few seconds, else 202."""
    received = sent(request)
    if len(received.uploads) != 1:
        raise ConvertixError("send exactly one part named 'file', or the image as the body",
                             code="BAD_REQUEST", details={"field": "file"})
    # straight to a converter, recorded after answering (gateway/convert.py)
    doc = direct_convert(received.uploads[0], received)
    if doc["status"] not in JOB_FINAL:
        return _accepted(doc)
    task = doc["tasks"][0]
    if task["status"] == "failed":
        raise error(task["error"]["code"], task["error"]["message"], job_id=doc["id"])
    if task["status"] != "succeeded":  # cancelled meanwhile
        raise NotFound(f"task 0 {task['status']}: it has no result")
    # The document says where the result is: no result_files RPC.
    found = {"index": 0, "filename": task["filename"], "format": task["output"]["format"]}
    response = _send_result(doc["id"], found)
    response.headers["X-Convertix-Job"] = doc["id"]
    return response


def _download_name(found):
    return result_filename(found["filename"], found["index"], extension(found["format"]))


def _result_path(job_id, found):
    path = storage().output_path(job_id, found["index"], extension(found["format"]))
    if not storage().exists(path):
        raise NotFound("the result file is missing")
    return path


def _send_result(job_id, found):
    return send_file(_result_path(job_id, found), mimetype=mime_type(found["format"]),
                     as_attachment=True, download_name=_download_name(found))
