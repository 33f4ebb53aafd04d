"""Following jobs to their final status: the live events
(`GET /jobs/<id>/events`, read with httpx-sse), or polling `GET /jobs/<id>`
where the server has no events endpoint (404/405/501)."""
import json
import time

import httpx
from httpx_sse import SSEError, connect_sse

from convertix.contract import JOB_FINAL, TASK_FINAL
from convertix_cli.client import API, api_error

NO_EVENTS = {404, 405, 501}
POLL_S = 1.0
# a task's share of done while it runs, by the converter's stage
STAGE_SHARE = {"decode": 0.25, "transform": 0.5, "encode": 0.75, "store": 0.9}


def final_statuses(formats):
    """(job, task) statuses after which nothing changes: the server's (GET
    /formats, `final_statuses`); the contract's (convertix/contract.py, the
    same package) for a server that does not say them."""
    given = formats.get("final_statuses") or {}
    return (frozenset(given.get("job") or JOB_FINAL),
            frozenset(given.get("task") or TASK_FINAL))


def progress_of(doc, task_final):
    """(done, total) in tasks; a running task counts by its stage."""
    done = 0.0
    for task in doc["tasks"]:
        if task["status"] in task_final:
            done += 1
        elif task["status"] == "processing":
            done += STAGE_SHARE.get(task.get("stage"), 0.1)
    return done, len(doc["tasks"])


def follow(client, job_id, on_change):
    """Call `on_change(doc)` at each change; return the final document."""
    final, _ = final_statuses(client.formats())
    try:
        doc = _follow_events(client, job_id, on_change, final)
    except _NoEvents:
        doc = None
    return doc if doc is not None else _poll(client, job_id, on_change, final)


class _NoEvents(Exception):
    pass


def _follow_events(client, job_id, on_change, final):
    last_id = None
    for _attempt in range(20):  # reconnects after a dropped stream, with Last-Event-ID
        headers = {"Authorization": "Bearer " + client.access_token(),
                   "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            with connect_sse(client.http, "GET", f"{API}/jobs/{job_id}/events",
                             headers=headers, timeout=httpx.Timeout(30.0, read=None)) as source:
                status = source.response.status_code
                if status in NO_EVENTS:
                    raise _NoEvents()
                if status == 401:
                    client._refresh()
                    continue
                if status != 200:
                    source.response.read()
                    raise api_error(source.response)
                doc = None
                for event in source.iter_sse():
                    last_id = event.id or last_id
                    if event.event == "job":
                        doc = json.loads(event.data)
                        on_change(doc)
                if doc is not None and doc["status"] in final:
                    return doc
        except (httpx.TransportError, SSEError):
            pass
        time.sleep(POLL_S)
    return None


def _poll(client, job_id, on_change, final):
    while True:
        doc = client.json("GET", f"/jobs/{job_id}")
        on_change(doc)
        if doc["status"] in final:
            return doc
        time.sleep(POLL_S)

