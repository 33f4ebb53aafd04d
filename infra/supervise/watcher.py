"""supervisord's event listener for `make run`: restarts made visible.

supervisord tells it every state change of every component. For each
component it
- counts restarts, `convertix_component_restarts_total{component=}`, served
  on its own /metrics and announced in METRICS.targets_dir like every other
  process's (infra/metrics_targets.py), so Prometheus finds it;
- writes a line into the component's log when it exits, with its exit
  status (`terminated by SIGKILL`, `exit status 1`), which supervisord's
  event does not carry: it is read from supervisord's own log line, written
  before the event is sent;
- reports plainly, on the console and in the component's log, a component
  that keeps failing at start (supervisord gave up on it: FATAL).

What to say is `notes()`, a pure function; the rest is supervisord's
listener protocol (stdout is the protocol, so reports go to stderr, which
supervisord sends to the console).
"""
import argparse
import dataclasses
import os
import re
import signal
import sys
import time

from infra.supervise.components import START_RETRIES

STATE_PREFIX = "PROCESS_STATE_"
RESTARTED_FROM = frozenset({"EXITED", "BACKOFF"})  # a start after one of these is a restart
# supervisord's line for every exit:
# "... WARN exited: services (terminated by SIGKILL; not expected)"
EXITED_LINE = re.compile(r"\bexited: (?P<name>\S+) \((?P<detail>[^)]*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class Notes:
    restarted: bool = False  # count one restart
    log: str = None          # a line for the component's log
    console: str = None      # a line for the console


def notes(eventname, fields, detail, conf, log_path):
    """What one PROCESS_STATE event means for its component.

    `fields`: the event's payload (processname, from_state, pid, tries...);
    `detail`: its last exit as supervisord logged it, or None; `conf`: the
    supervisord.conf, for the command that starts it again; `log_path`: the component's log."""
    state = eventname[len(STATE_PREFIX):] if eventname.startswith(STATE_PREFIX) else eventname
    name = fields.get("processname", "?")
    how = f" ({detail})" if detail else ""
    if state == "STARTING":
        return Notes(restarted=fields.get("from_state") in RESTARTED_FROM)
    if state == "EXITED":
        return Notes(log=f"supervisor: {name} (pid {fields.get('pid')}) exited{how}; "
                         "starting it again")
    if state == "BACKOFF":
        tries = fields.get("tries", "?")
        return Notes(log=f"supervisor: {name} exited at start{how}; try {tries} of "
                         f"{START_RETRIES + 1} failed, the next in {tries} s")
    if state == "FATAL":
        text = (f"convertix: {name} keeps failing: it exited at start {START_RETRIES + 1} times "
                f"in a row and is not started again; the other components keep running. "
                f"Why: {log_path}. Once its cause is fixed: "
                f".venv/bin/supervisorctl -c {conf} start {name}")
        return Notes(log=text, console=text)
    return Notes()


def exit_details(lines):
    """{component: its last exit's detail} in supervisord's log lines."""
    found = {}
    for line in lines:
        match = EXITED_LINE.search(line)
        if match:
            found[match["name"]] = match["detail"]
    return found


class LogTail:
    """The lines a file gained since the last read (from its end at the start)."""

    def __init__(self, path):
        self.path = path
        try:
            self.offset = os.path.getsize(path)
        except OSError:
            self.offset = 0

    def lines(self):
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:  # rotated
                    self.offset = 0
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        return data.decode(errors="replace").splitlines()


# the event can come before supervisord's own line about that exit is in its log
EXIT_LINE_WAIT_S = 2.0


def _exit_details_of(name, eventname, tail):
    """The exit details the log gained; for an exit of `name`, waiting (up to
    EXIT_LINE_WAIT_S) until supervisord has written its line about it."""
    found = exit_details(tail.lines())
    if eventname not in (STATE_PREFIX + "EXITED", STATE_PREFIX + "BACKOFF"):
        return found
    deadline = time.monotonic() + EXIT_LINE_WAIT_S
    while name not in found and time.monotonic() < deadline:
        time.sleep(0.05)
        found.update(exit_details(tail.lines()))
    return found


def _stamp(text):
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n"


def _append(path, text):
    # supervisord appends to the same file (O_APPEND both): lines never mix
    try:
        with open(path, "a") as handle:
            handle.write(_stamp(text))
    except OSError as exc:
        print(f"watcher: cannot write to {path}: {exc}", file=sys.stderr, flush=True)


def _serve_metrics(components):
    """Start /metrics with a zero for every component; the target file's path, or None."""
    from prometheus_client import start_http_server

    from infra import metrics, metrics_targets
    from infra.config import load_checked
    from infra.config.schema import METRICS, read

    for name in components:
        metrics.COMPONENT_RESTARTS.labels(name)
    settings = read(load_checked(), METRICS)
    server, _thread = start_http_server(settings["port"], addr=settings["host"])
    return metrics_targets.announce(settings["targets_dir"], "supervisor", settings["host"],
                                    server.server_address[1])


def main(argv=None):
    from supervisor import childutils

    from infra import metrics, metrics_targets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supervisord-log", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--conf", required=True)
    parser.add_argument("components", nargs="+")
    args = parser.parse_args(argv)
    target = _serve_metrics(args.components)

    def stop(*_):
        metrics_targets.withdraw(target)
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)

    tail = LogTail(args.supervisord_log)
    details = {}
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        fields = childutils.get_headers(payload)
        name = fields.get("processname")
        if name in args.components:
            details.update(_exit_details_of(name, headers.get("eventname", ""), tail))
            log_path = os.path.join(args.log_dir, f"{name}.log")
            said = notes(headers.get("eventname", ""), fields, details.get(name), args.conf,
                         log_path)
            if said.restarted:
                metrics.COMPONENT_RESTARTS.labels(name).inc()
            if said.log:
                _append(log_path, said.log)
            if said.console:
                print(_stamp(said.console), end="", file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
