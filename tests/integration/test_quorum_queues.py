"""AMQP_QUEUE_TYPE=quorum: the queues a service declares through nameko are
quorum queues on the broker, the RPC callers' reply queues stay classic
(infra/nameko/quorum.py). The real jobs service, started as the stack starts
it (`python -m infra.runner`), on a fresh vhost of the test broker."""
import os
import subprocess
import sys

from nameko.standalone.rpc import ClusterRpcProxy

from convertix.contract import CONVERT_QUEUE, DEAD_LETTER_QUEUE
from infra import migrations
from tests.helpers import stop_process_groups, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_services_queues_are_quorum_queues(rabbit_config, rabbit_manager, tmp_path):
    db_url = f"sqlite:///{tmp_path}/convertix.db"
    migrations.upgrade(db_url)
    env = {**os.environ, "AMQP_URI": rabbit_config["AMQP_URI"], "DATABASE_URL": db_url,
           "AMQP_QUEUE_TYPE": "quorum", "STORAGE_ROOT": str(tmp_path / "storage"),
           "LOG_DIR": str(tmp_path / "log"), "METRICS_PORT": "0",
           "METRICS_TARGETS_DIR": str(tmp_path / "targets"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "jobs.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "infra.runner", "--config", "config.yaml",
                             "services.jobs.service"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    vhost = rabbit_config["vhost"]

    def queues():
        assert proc.poll() is None, (tmp_path / "jobs.log").read_text()[-3000:]
        return {q["name"]: q.get("type") for q in rabbit_manager.get_queues(vhost)}
    try:
        wait_until(lambda: "rpc-jobs" in queues(), timeout=90, message="the jobs service")
        with ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=30) as rpc:
            rpc.jobs.ping()
            found = queues()
    finally:
        stop_process_groups([proc])
    ours = {name: kind for name, kind in found.items() if not name.startswith("rpc.reply")}
    assert {"rpc-jobs", CONVERT_QUEUE, DEAD_LETTER_QUEUE} <= set(ours), found
    assert any(name.startswith("evt-") for name in ours), found
    assert set(ours.values()) == {"quorum"}, found
    replies = [kind for name, kind in found.items() if name.startswith("rpc.reply")]
    assert replies and set(replies) == {"classic"}, found
