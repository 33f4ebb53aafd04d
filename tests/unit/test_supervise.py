"""make run's supervision, its pure parts: the supervisord.conf written from
the component table, what the watcher says for each state change, and the
exit status read from supervisord's log."""
import configparser

import pytest

from infra.config.schema import SCALER
from infra.supervise import state
from infra.supervise.components import (
    COMPONENTS,
    NAMES,
    START_RETRIES,
    WATCHER,
    Paths,
    render,
)
from infra.supervise.watcher import LogTail, Notes, _exit_details_of, exit_details, notes

PATHS = Paths(root="/src/convertix", var="/srv/var")
CONF = "/srv/var/run/supervisord.conf"
LOG = "/srv/var/log/scaler.log"


def parsed(as_root=False):
    config = configparser.RawConfigParser()
    config.read_string(render(PATHS, as_root=as_root))
    return config


def test_every_component_is_restarted_and_stopped_as_a_group():
    config = parsed()
    programs = [s[len("program:"):] for s in config.sections() if s.startswith("program:")]
    assert programs == list(NAMES) == ["services", "notifier", "scaler", "gateway"]
    for name in NAMES:
        program = config[f"program:{name}"]
        assert program["autorestart"] == "true" and program["stopsignal"] == "TERM"
        assert program["stopasgroup"] == program["killasgroup"] == "true"
        assert program["command"].startswith("bash scripts/with-env.sh ")
        assert program["directory"] == PATHS.root
        assert program["stdout_logfile"] == f"/srv/var/log/{name}.log"
        assert int(program["startretries"]) == START_RETRIES


def test_stopping_goes_gateway_first_services_last():
    config = parsed()
    priority = {name: int(config[f"program:{name}"]["priority"]) for name in NAMES}
    assert sorted(NAMES, key=priority.get, reverse=True) == [
        "gateway", "scaler", "notifier", "services"]
    assert int(config[f"eventlistener:{WATCHER}"]["priority"]) < min(priority.values())


def test_stop_waits_outlast_the_graceful_stops():
    waits = {c.name: c.stop_wait_s for c in COMPONENTS}
    assert waits["scaler"] > SCALER.default["local"]["stop_timeout_s"]  # draining replicas
    assert waits["gateway"] > 15  # gunicorn's graceful_timeout (gateway/gunicorn_conf.py)


def test_the_run_files_and_the_watcher():
    config = parsed()
    assert config["supervisord"]["nodaemon"] == "true"
    assert config["supervisord"]["pidfile"] == "/srv/var/run/supervisord.pid"
    assert config["supervisord"]["umask"] == "077"
    assert "user" not in config["supervisord"]
    assert parsed(as_root=True)["supervisord"]["user"] == "root"
    assert config["unix_http_server"]["file"] == "/srv/var/run/supervisor.sock"
    assert config["supervisorctl"]["serverurl"] == "unix:///srv/var/run/supervisor.sock"
    watcher = config[f"eventlistener:{WATCHER}"]
    assert watcher["events"] == "PROCESS_STATE"
    assert watcher["command"].endswith(" ".join(NAMES))
    assert f"--conf {CONF}" in watcher["command"]


def test_a_percent_sign_in_a_path_is_escaped():
    text = render(Paths(root="/src/100%", var="/srv/var"))
    assert "directory=/src/100%%" in text


@pytest.mark.parametrize("event, fields, detail, expected", [
    ("PROCESS_STATE_STARTING", {"from_state": "STOPPED"}, None, Notes()),
    ("PROCESS_STATE_STARTING", {"from_state": "EXITED"}, None, Notes(restarted=True)),
    ("PROCESS_STATE_STARTING", {"from_state": "BACKOFF", "tries": "2"}, None,
     Notes(restarted=True)),
    ("PROCESS_STATE_RUNNING", {"from_state": "STARTING"}, None, Notes()),
    ("PROCESS_STATE_STOPPING", {"from_state": "RUNNING"}, None, Notes()),
    ("PROCESS_STATE_EXITED", {"from_state": "RUNNING", "pid": "41", "expected": "0"},
     "terminated by SIGKILL; not expected",
     Notes(log="supervisor: scaler (pid 41) exited (terminated by SIGKILL; not expected); "
               "starting it again")),
    ("PROCESS_STATE_EXITED", {"from_state": "RUNNING", "pid": "41"}, None,
     Notes(log="supervisor: scaler (pid 41) exited; starting it again")),
    ("PROCESS_STATE_BACKOFF", {"from_state": "STARTING", "tries": "3"},
     "exit status 1; not expected",
     Notes(log=f"supervisor: scaler exited at start (exit status 1; not expected); try 3 of "
               f"{START_RETRIES + 1} failed, the next in 3 s")),
])
def test_what_the_watcher_says(event, fields, detail, expected):
    assert notes(event, {"processname": "scaler", **fields}, detail, CONF, LOG) == expected


def test_a_component_that_keeps_failing_is_told_on_the_console_and_in_its_log():
    said = notes("PROCESS_STATE_FATAL", {"processname": "scaler", "from_state": "BACKOFF"},
                 "exit status 1; not expected", CONF, LOG)
    assert said.console == said.log and not said.restarted
    assert said.console.startswith("convertix: scaler keeps failing")
    assert "the other components keep running" in said.console
    assert LOG in said.console
    assert said.console.endswith(f".venv/bin/supervisorctl -c {CONF} start scaler")


def test_exit_details_from_supervisords_log():
    lines = [
        "2026-12-07 07:15:32,565 WARN exited: services (terminated by SIGKILL; not expected)",
        "2026-12-07 07:15:33,575 INFO spawned: 'services' with pid 24088",
        "2026-12-07 07:15:40,001 WARN exited: scaler (exit status 1; not expected)",
        "2026-12-07 07:15:42,002 WARN exited: services (exit status 0; expected)",
        "2026-12-07 07:16:13,359 INFO stopped: gateway (exit status 0)",
    ]
    assert exit_details(lines) == {"services": "exit status 0; expected",
                                   "scaler": "exit status 1; not expected"}


@pytest.mark.parametrize("env, url", [
    ({}, None),
    ({"SUPERVISOR_SERVER_URL": ""}, None),
    ({"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9001"}, None),  # only our own socket
    ({"SUPERVISOR_SERVER_URL": "unix:///srv/var/run/supervisor.sock"},
     "unix:///srv/var/run/supervisor.sock"),
])
def test_supervised_only_with_supervisords_socket(env, url):
    assert state.server_url(env) == url


def test_failing_components_are_the_fatal_ones():
    assert state.failing({"gateway": "RUNNING", "scaler": "FATAL", "notifier": "BACKOFF",
                          "services": "FATAL"}) == ["scaler", "services"]


def test_an_exit_waits_for_supervisords_own_line_about_it(tmp_path):
    """The event may come before supervisord has logged the exit: its detail
    (the signal) is still found, once the line is there."""
    import threading
    log = tmp_path / "supervisord.log"
    log.write_text("")
    tail = LogTail(str(log))
    line = "2026-12-07 07:15:32,565 WARN exited: services (terminated by SIGKILL; not expected)\n"
    writer = threading.Timer(0.3, lambda: log.write_text(line))
    writer.start()
    try:
        found = _exit_details_of("services", "PROCESS_STATE_EXITED", tail)
    finally:
        writer.join()
    assert found == {"services": "terminated by SIGKILL; not expected"}
    # other events do not wait
    assert _exit_details_of("services", "PROCESS_STATE_STARTING", tail) == {}
