"""ECS JSON lines: `ecs-logging`'s formatter plus Convertix's context.

Every line carries `service.name` (the Nameko service a worker runs for, else
the process's name), `trace.id`, `user.id`, `convertix.job_id` and
`convertix.task_index` when they are known (see `context`), and
`event.sequence`: this process's count of log records, so that one process's
lines of one millisecond (ECS's `@timestamp` resolution) come back from a
search in the order they were logged, from Elasticsearch and from the local
store alike (infra/logs/search.py).
"""
import itertools
import os
import socket
import sys
import threading
import weakref

import ecs_logging

from infra.logs import context

# context field -> ECS field
ECS_FIELDS = {
    "trace_id": "trace.id",
    "job_id": "convertix.job_id",
    "task_index": "convertix.task_index",
    "user_id": "user.id",
}

_process = {"service": None}
_sequence = itertools.count(1)  # next() on a count is atomic under the GIL
SEQUENCE_ATTRIBUTE = "event.sequence"


def set_process_service(name):
    _process["service"] = name


def process_service():
    """This process's name: set by `setup.configure`, else guessed from argv."""
    if not _process["service"]:
        _process["service"] = os.environ.get("CONVERTIX_SERVICE_NAME") or guess_service(sys.argv)
    return _process["service"]


def guess_service(argv):
    """`nameko run ... services.jobs.service` -> "jobs", `scaler.service` -> "scaler";
    gunicorn -> "gateway"; `python -m scaler` -> "scaler"."""
    program = os.path.basename(argv[0]) if argv else "python"
    if "gunicorn" in program or "flask" in program:
        return "gateway"
    names = []
    for arg in argv[1:]:
        parts = arg.split(":")[0].split(".")
        if arg.startswith("-") or len(parts) < 2 or parts[-1] in ("yaml", "yml", "py"):
            continue
        names.append(parts[1] if parts[0] == "services" else parts[-2]
                     if parts[-1] == "service" else parts[-1])
    if names:
        return "+".join(names)
    if program == "__main__.py":  # python -m package
        return os.path.basename(os.path.dirname(argv[0]))
    return program.removesuffix(".py")


_last = threading.local()  # per thread (greenlet, once patched): the last line made


class EcsFormatter(ecs_logging.StdlibFormatter):
    def __init__(self, service=None, **kwargs):
        kwargs.setdefault("exclude_fields", ["log.original"])  # the same text as `message`
        super().__init__(**kwargs)
        self._service = service
        self._host = socket.gethostname()
        self._options = tuple(sorted((key, repr(value)) for key, value in kwargs.items()))

    def format(self, record):
        # Every record goes to two handlers (the console and the store), one
        # after the other, each with its own EcsFormatter: the line is made
        # once (~0.13 ms here, a few lines per task) and the second handler
        # takes it, if its options would make the same line. Not kept on the
        # record: any attribute there is an "extra" field to ecs-logging.
        made = (self._service or process_service(), self._options)
        kept = getattr(_last, "line", None)
        if kept is not None and kept[0]() is record and kept[1] == made:
            return kept[2]
        line = super().format(record)
        _last.line = (weakref.ref(record), made, line)  # not kept alive (nor its traceback)
        return line

    def format_to_ecs(self, record):
        # Numbered once per record, not per formatter: the console's copy of
        # a line and the stored one carry the same number. A record attribute
        # outside LogRecord's own is an "extra" to ecs-logging, which writes
        # this one as {"event": {"sequence": n}}.
        if SEQUENCE_ATTRIBUTE not in record.__dict__:
            record.__dict__[SEQUENCE_ATTRIBUTE] = next(_sequence)
        doc = super().format_to_ecs(record)
        fields = context.current()
        doc["service"] = {**doc.get("service", {}),
                          "name": fields.get("service") or self._service or process_service()}
        doc.setdefault("host", {})["name"] = self._host
        for key, ecs_name in ECS_FIELDS.items():
            if key in fields and not has_field(doc, ecs_name):
                group, name = ecs_name.split(".")
                doc.setdefault(group, {})[name] = fields[key]
        return doc


def has_field(doc, dotted):
    return get_field(doc, dotted) is not None


def get_field(doc, dotted):
    """A field of an ECS document, whether its name is dotted, nested, or both
    (ecs-logging writes "log.level" flat and "log": {"logger": ...} nested)."""
    if not isinstance(doc, dict):
        return None
    if dotted in doc:
        return doc[dotted]
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if isinstance(doc.get(head), dict):
            found = get_field(doc[head], ".".join(parts[cut:]))
            if found is not None:
                return found
    return None
