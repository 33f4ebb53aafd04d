"""The job document of the SPEC, built from records. Pure."""
import json

from convertix.contract import RESULT_URL, job_change


def iso(moment):
    return moment.isoformat(timespec="milliseconds") + "Z"


def task_document(job_id, task):
    output = None
    if task.output_format:
        output = {"format": task.output_format, "width": task.output_width,
                  "height": task.output_height, "bytes": task.output_bytes,
                  "url": RESULT_URL.format(job_id=job_id, index=task.index)}
    error = None
    if task.error_code:
        error = {"code": task.error_code, "message": task.error_message or ""}
    return {
        "index": task.index,
        "filename": task.filename,
        "status": task.status,
        "stage": task.stage,
        "attempts": task.attempts,
        "reused": bool(task.reused),  # the result is an earlier identical task's (reuse.py)
        "input": {"format": task.input_format, "width": task.input_width,
                  "height": task.input_height, "bytes": task.input_bytes},
        "output": output,
        "error": error,
    }


def job_document(job):
    doc = {
        "id": job.id,
        "status": job.status,
        "seq": job.seq,
        "queue_position": job.queue_position,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "options": json.loads(job.options),
        "tasks": [task_document(job.id, task) for task in job.tasks],
    }
    if job.callback_url:
        doc["callback_url"] = job.callback_url
    return doc


def change_event(job, document):
    """The job_changed payload (convertix/contract.py): who, which change, what."""
    return job_change(job.id, job.user_id, job.seq, document, job.callback_url)
