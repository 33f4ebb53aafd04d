"""Server-sent events framing (the WHATWG HTML "server-sent events" format). Pure."""
import json

JOB_EVENT = "job"
END_EVENT = "end"


def event_frame(seq, document, event=JOB_EVENT):
    """One event: its id (the job's seq), name and the document as JSON data lines."""
    data = json.dumps(document, separators=(",", ":"))
    lines = [f"id: {seq}", f"event: {event}"]
    lines += [f"data: {line}" for line in data.split("\n")]  # JSON has none; kept safe
    return "\n".join(lines) + "\n\n"


def end_frame(reason, last_seq=-1):
    """The stream ends, and why (`{"reason": ...}`); its id is the last one sent, so a
    client that reconnects (with a new token where the old one ended) resumes there."""
    lines = [f"id: {last_seq}"] if last_seq >= 0 else []
    lines += [f"event: {END_EVENT}", "data: " + json.dumps({"reason": reason})]
    return "\n".join(lines) + "\n\n"


def comment(text="keep-alive"):
    """A comment line: ignored by clients, keeps proxies from closing an idle stream."""
    return f": {text}\n\n"


def retry(milliseconds):
    """How long a client waits before reconnecting."""
    return f"retry: {int(milliseconds)}\n\n"


def last_event_id(raw):
    """The Last-Event-ID header (or ?last_event_id) as a seq; -1 when absent or not one."""
    try:
        value = int((raw or "").strip(), 10)
    except ValueError:
        return -1
    return value if value >= 0 else -1
