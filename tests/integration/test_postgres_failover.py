"""PostgreSQL failover with real processes, no Docker: one etcd and two
Patroni-managed PostgreSQL 15 members on this host, configured by the
patroni image's own generator (deploy/patroni_config.py, run as its
entrypoint runs it), and the real accounts and jobs services (`nameko run`)
on a multi-host URL with `target_session_attrs=read-write`.

Jobs are created up to the moment the primary's Patroni and PostgreSQL are
killed with SIGKILL (a lost node); then: the standby is promoted within a
bound (the seconds are printed), the services reach it by themselves, every
job they accepted is there (synchronous replication: an acknowledged commit
is on the standby too), a creation that met the failover failed with an
error the gateway answers 503 for, and the same creation sent again is
recorded once, whole. Then the old primary, started again, comes back as
the synchronous standby by itself (pg_rewind).
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from gateway.rpc import REMOTE_BACKEND_ERRORS
from infra import migrations
from services.jobs.models import Job, Task
from tests.e2e.conftest import free_port
from tests.helpers import jobs_processes, stop_process_group, wait_until

pytestmark = pytest.mark.processes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "failover-" + uuid.uuid4().hex[:8]
# Patroni's timing here: the leader lock lives 10 s and is renewed every 2 s,
# so a dead primary's lock expires 8 to 10 s after its death. The stack's
# defaults (20/5/5) trade a little speed for calm on busy nodes.
TIMING = {"TTL_S": "10", "LOOP_WAIT_S": "2", "RETRY_TIMEOUT_S": "4"}
FAILOVER_BOUND_S = 45   # promotion after the kill, on a loaded 2-core machine
SERVICE_BOUND_S = 60    # the services' first accepted job after the kill
REJOIN_BOUND_S = 90     # the old primary rewound and streaming again
JOBS_BEFORE = 12

class Member:
    """One Patroni (and the PostgreSQL it runs) as a process group of its own."""

    def __init__(self, base, name, etcd_hosts, run_as):
        self.name, self.run_as = name, run_as
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.pg_port, self.api_port = free_port(), free_port()
        self.data_dir = os.path.join(self.dir, "data")
        secret = os.path.join(self.dir, "password")
        with open(secret, "w") as f:
            f.write(PASSWORD + "\n")
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8",
               "PATRONI_NAME": name, "ETCD_HOSTS": etcd_hosts,
               "CONNECT_HOST": "127.0.0.1", "LISTEN_HOST": "127.0.0.1",
               "PG_PORT": str(self.pg_port), "API_PORT": str(self.api_port),
               "PGDATA": self.data_dir, "PG_BIN_DIR": PG_BIN, "PG_SOCKET_DIR": self.dir,
               "PGPASS_FILE": os.path.join(self.dir, "pgpass"),
               "POSTGRES_PASSWORD_FILE": secret, **TIMING,
               # shared memory segments as files in the data folder: a
               # postmaster killed here leaves none behind in /dev/shm
               "PG_PARAMETERS": "dynamic_shared_memory_type=mmap"}
        # the image's entrypoint runs the generator so, with Debian's python3
        self.config = os.path.join(self.dir, "patroni.yml")
        with open(self.config, "w") as out:
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "deploy", "patroni_config.py")],
                           env=env, stdout=out, check=True)
        self.log_path = os.path.join(self.dir, "patroni.log")
        if run_as:
            subprocess.run(["chown", "-R", f"{run_as}:", self.dir], check=True)
        self.proc = None

    def start(self):
        # PostgreSQL refuses to run as root: as root, Patroni runs as `postgres`
        command = ["patroni", self.config]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": self.dir},
                start_new_session=True)

    def api(self, path):
        """(status, JSON) of Patroni's REST API, or (None, None) if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}{path}",
                                        timeout=3) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError):
            return None, None

    def is_primary(self):
        return self.api("/primary")[0] == 200

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def kill(self):
        """SIGKILL to Patroni and to PostgreSQL with all its backends, as a lost node."""
        pid = self.postmaster_pid()
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # stopped already
                pass
            self.proc.wait()
        if pid and _is_postgres(pid):
            try:  # Patroni starts the postmaster in a session of its own: all of it
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: not _is_postgres(pid), timeout=30, interval=0.1,
                       message=f"{self.name}'s postmaster gone")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            stop_process_group(self.proc, timeout=30)
        self.kill()  # whatever is left

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def _is_postgres(pid):
    """The process `pid` is a postgres (not a pid reused since, nor a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return "(postgres)" in stat and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cluster(members):
    for member in members:
        status, cluster = member.api("/cluster")
        if status == 200:
            return {m["name"]: m for m in cluster.get("members", [])}
    return {}


def _leader_and_sync_standby(members):
    """Both running, one the leader, the other its synchronous standby."""
    roles = {m["role"] for m in _cluster(members).values() if m.get("state") == "running"}
    return {"leader", "sync_standby"} <= roles


@pytest.fixture
def patroni_cluster(tmp_path):
    """etcd, then two Patroni members; yields (members, url) once one leads
    and the other is its synchronous standby."""
    base = tempfile.mkdtemp(prefix="convertix-failover-",
                            dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    os.chmod(base, 0o755)
    run_as = "postgres" if os.geteuid() == 0 else None
    client, peer = free_port(), free_port()
    etcd_log = open(os.path.join(base, "etcd.log"), "wb")
    etcd = subprocess.Popen(
        ["etcd", "--name", "e1", "--data-dir", os.path.join(base, "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"e1=http://127.0.0.1:{peer}"],
        stdout=etcd_log, stderr=subprocess.STDOUT, start_new_session=True)
    members = []
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{client}/health"), timeout=60,
                   interval=0.2, message="etcd answering")
        members = [Member(base, name, f"127.0.0.1:{client}", run_as) for name in ("pg1", "pg2")]
        for member in members:
            member.start()
        started = time.monotonic()
        try:
            wait_until(lambda: _leader_and_sync_standby(members), timeout=120, interval=0.5,
                       message="a leader and its synchronous standby")
        except AssertionError:
            raise AssertionError("\n".join(f"--- {m.name}\n{m.log_tail()}" for m in members))
        print(f"\npatroni: a leader and its synchronous standby after "
              f"{time.monotonic() - started:.1f} s")
        hosts = "&".join(f"host=127.0.0.1:{m.pg_port}" for m in members)
        yield members, (f"postgresql+psycopg2://convertix:{PASSWORD}@/convertix?{hosts}"
                        "&target_session_attrs=read-write")
    finally:
        with contextlib.ExitStack() as cleanup:   # each step runs, whatever fails before it
            cleanup.callback(shutil.rmtree, base, ignore_errors=True)
            cleanup.callback(_keep_logs, base, tmp_path)
            cleanup.callback(etcd_log.close)
            cleanup.callback(stop_process_group, etcd, timeout=30)
            for member in members:
                cleanup.callback(member.stop)


def _keep_logs(base, folder):
    """The logs next to the test's other files, for a failure's reader."""
    for name in ("etcd.log", "pg1/patroni.log", "pg2/patroni.log"):
        if os.path.exists(os.path.join(base, name)):
            shutil.copy(os.path.join(base, name), folder / name.replace("/", "-"))


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _files(n):
    return [{"filename": f"f{i}.png", "format": "png", "bytes": 100} for i in range(n)]


def create(rpc, job_id, user_id, n_files):
    return rpc.jobs.create_job(job_id, user_id, {"format": "png"}, _files(n_files))


def test_the_services_live_through_a_primary_lost_with_no_job_lost(
        patroni_cluster, rabbit_config, rabbit_manager, tmp_path):
    members, url = patroni_cluster
    migrations.upgrade(url)   # Alembic on the multi-host URL too
    env = {"AMQP_URI": rabbit_config["AMQP_URI"], "DATABASE_URL": url,
           "STORAGE_ROOT": str(tmp_path / "storage"), "LOG_DIR": str(tmp_path / "log"),
           "METRICS_PORT": "0", "METRICS_TARGETS_DIR": str(tmp_path / "targets"),
           "DB_CONNECT_TIMEOUT_S": "2", "DB_TCP_USER_TIMEOUT_S": "3",
           "PYTHONUNBUFFERED": "1"}
    user = uuid.uuid4().hex
    username = "failover" + uuid.uuid4().hex[:8]
    accepted, met_failover = {}, {}   # job id -> its files
    with jobs_processes(["services.accounts.service", "services.jobs.service"], env,
                        rabbit_config, rabbit_manager, tmp_path, count=1), \
            ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=60) as rpc:
        rpc.accounts.register(username, "a-long-password-1")
        for n in range(JOBS_BEFORE):   # up to the moment of the kill
            job_id = uuid.uuid4().hex
            create(rpc, job_id, user, 1 + n % 3)
            accepted[job_id] = 1 + n % 3
        old, = [m for m in members if m.is_primary()]
        new, = [m for m in members if m is not old]

        old.kill()
        killed_at = time.monotonic()
        promoted = []

        def try_create():
            """One creation, as a client retrying would send it, from the kill on."""
            if not promoted and new.is_primary():
                promoted.append(time.monotonic() - killed_at)
            job_id = uuid.uuid4().hex
            try:
                create(rpc, job_id, user, 2)
            except RemoteError as exc:
                # what the gateway answers 503 for (gateway/rpc.py)
                assert exc.exc_type in REMOTE_BACKEND_ERRORS, exc
                met_failover[job_id] = 2
                return False
            accepted[job_id] = 2
            return True
        wait_until(try_create, timeout=SERVICE_BOUND_S, interval=0.2,
                   message="the jobs service accepting jobs again (the members' logs: tmp_path)")
        serving_s = time.monotonic() - killed_at
        assert promoted or new.is_primary(), f"a job accepted, yet {new.name} is not the primary"
        promoted_s = promoted[0] if promoted else serving_s
        print(f"\nfailover: {new.name} primary {promoted_s:.1f} s after {old.name} was killed; "
              f"the jobs service accepted a job again after {serving_s:.1f} s "
              f"({len(met_failover)} creations refused meanwhile, each a 503 at the gateway)")

        # a client sends what was refused again, with the same ids: created once
        for job_id, n_files in met_failover.items():
            create(rpc, job_id, user, n_files)
            accepted[job_id] = n_files
        for _ in range(5):
            job_id = uuid.uuid4().hex
            create(rpc, job_id, user, 1)
            accepted[job_id] = 1
        # the accounts service too: what was written before, and a new write
        assert rpc.accounts.authenticate(username, "a-long-password-1")
        rpc.accounts.register(username + "b", "a-long-password-2")
        for job_id in accepted:
            assert rpc.jobs.get_job(job_id, user)["id"] == job_id

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            jobs = set(session.scalars(select(Job.id).where(Job.user_id == user)))
            tasks = dict(session.execute(select(Task.job_id, func.count()).join(Job)
                                         .where(Job.user_id == user).group_by(Task.job_id)).all())
    finally:
        engine.dispose()
    assert jobs == set(accepted), "a job accepted before the kill is missing, or one extra"
    assert tasks == accepted, "a job recorded without all its tasks"
    assert promoted_s < FAILOVER_BOUND_S

    # the old primary, started again, rewinds and follows the new one by itself
    old.start()
    restarted_at = time.monotonic()
    wait_until(lambda: _cluster(members).get(old.name, {}).get("role") == "sync_standby"
               and _cluster(members)[old.name].get("state") == "running",
               timeout=REJOIN_BOUND_S, interval=0.5,
               message=f"{old.name} back as the synchronous standby (its log: tmp_path)")
    print(f"{old.name} back as the synchronous standby {time.monotonic() - restarted_at:.1f} s "
          "after its start")
