"""What `make run` supervises, and the supervisord.conf written from it.

Each component is one process group that supervisord starts, restarts when
it exits, and stops gracefully (SIGTERM to the group, as `make stop` always
did, then SIGKILL to the group after `stop_wait_s`). Stopping goes from the
highest priority down, one component at a time: the gateway first (it takes
no new request), then the scaler (its converter replicas finish the tasks
they hold), then the services that record what those tasks report.
"""
import dataclasses
import os

# A start that exits sooner than this is a failed start (a service starts in
# 2-5 s, more on a busy machine); supervisord then
# waits 1 s, 2 s, 3 s... before the next, and gives up (FATAL) after
# START_RETRIES of them in a row. A component that ran longer is started
# again at once when it exits.
START_S = 10
START_RETRIES = 5
LOG_MAX_BYTES = 50 * 2**20
LOG_BACKUPS = 5

NAMEKO = "python -m infra.runner --config config.yaml"  # `nameko run`, see infra/runner.py


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    command: str
    priority: int      # started lowest first, stopped highest first
    stop_wait_s: int   # after SIGTERM, then SIGKILL to its process group


COMPONENTS = (
    Component("services", f"{NAMEKO} services.accounts.service services.jobs.service", 10, 60),
    # webhooks: a process of its own, so a slow receiver never slows the pipeline
    Component("notifier", f"{NAMEKO} services.notifier.service", 20, 60),
    # the scaler drains its converter replicas, which may wait SCALER.local.stop_timeout_s
    # (120 s) on a conversion: a little longer than that
    Component("scaler", f"{NAMEKO} scaler.service", 30, 150),
    # gunicorn gives its workers graceful_timeout (15 s) for requests in flight
    Component("gateway", "gunicorn -c gateway/gunicorn_conf.py gateway.wsgi:app", 40, 30),
)
NAMES = tuple(c.name for c in COMPONENTS)
WATCHER = "watcher"  # the event listener (infra/supervise/watcher.py)


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where a run keeps its files: `run` (config, socket, pid), `log`."""
    root: str
    var: str

    @property
    def run(self):
        return os.path.join(self.var, "run")

    @property
    def log(self):
        return os.path.join(self.var, "log")

    @property
    def conf(self):
        return os.path.join(self.run, "supervisord.conf")

    @property
    def socket(self):
        return os.path.join(self.run, "supervisor.sock")

    @property
    def pidfile(self):
        return os.path.join(self.run, "supervisord.pid")

    @property
    def supervisord_log(self):
        return os.path.join(self.log, "supervisord.log")

    def component_log(self, name):
        return os.path.join(self.log, f"{name}.log")


def _escape(value):
    return str(value).replace("%", "%%")  # supervisord expands %(...)s


def _section(title, values):
    lines = [f"[{title}]"] + [f"{key}={_escape(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def render(paths, as_root=False):
    """supervisord.conf's text for a run: paths absolute, every component and the watcher."""
    with_env = "bash scripts/with-env.sh "  # the venv and the development secrets
    sections = [
        _section("supervisord", {
            "nodaemon": "true",  # scripts/run.sh's child: Ctrl-C and `make stop` reach it
            "logfile": paths.supervisord_log,  # and the console (nodaemon)
            "logfile_maxbytes": LOG_MAX_BYTES, "logfile_backups": LOG_BACKUPS,
            "pidfile": paths.pidfile,
            "childlogdir": paths.log,
            "directory": paths.root,
            "umask": "077",  # a run's files are the service user's alone, as before
            # named, so that supervisord does not warn that it did not drop privileges
            **({"user": "root"} if as_root else {}),
        }),
        _section("unix_http_server", {"file": paths.socket, "chmod": "0700"}),
        _section("rpcinterface:supervisor", {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"}),
        _section("supervisorctl", {"serverurl": f"unix://{paths.socket}"}),
    ]
    for component in COMPONENTS:
        sections.append(_section(f"program:{component.name}", {
            "command": with_env + component.command,
            "directory": paths.root,
            "priority": component.priority,
            "autostart": "true",
            "autorestart": "true",
            "startsecs": START_S,
            "startretries": START_RETRIES,
            "stopsignal": "TERM",
            "stopwaitsecs": component.stop_wait_s,
            # the whole group, as `make stop` did: gunicorn's workers, the
            # scaler's replicas and their sandboxes are stopped with it
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": paths.component_log(component.name),
            "stdout_logfile_maxbytes": LOG_MAX_BYTES,
            "stdout_logfile_backups": LOG_BACKUPS,
        }))
    sections.append(_section(f"eventlistener:{WATCHER}", {
        "command": with_env + "python -m infra.supervise.watcher"
                   f" --supervisord-log {paths.supervisord_log} --log-dir {paths.log}"
                   f" --conf {paths.conf} " + " ".join(NAMES),
        "directory": paths.root,
        "events": "PROCESS_STATE",
        "priority": 1,  # started before the components, stopped after them
        "autostart": "true",
        "autorestart": "true",
        "startsecs": 1,
        "buffer_size": 1000,
        "stopsignal": "TERM",
        "stopwaitsecs": 10,
        # its reports go to the console (stdout is supervisord's protocol)
        "stdout_logfile": "NONE",
        "stderr_logfile": "/dev/stdout",
        "stderr_logfile_maxbytes": 0,
    }))
    return "\n".join(sections)


def main(argv=None):
    """`python -m infra.supervise.components VAR`: write VAR/run/supervisord.conf,
    print its path."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    paths = Paths(root=os.getcwd(), var=os.path.abspath(argv[0] if argv else "var"))
    os.makedirs(paths.run, exist_ok=True)
    os.makedirs(paths.log, exist_ok=True)
    with open(paths.conf, "w") as handle:
        handle.write(render(paths, as_root=os.geteuid() == 0))
    print(paths.conf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
