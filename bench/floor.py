"""Benchmark: the least CPU each part around the engine costs, alone.

    python -m bench.floor             # work B's input (bench/batches.py)
    python -m bench.floor --work A    # work A's

The targets for `/convert` B (10 ms of CPU outside the engine per request)
and for batch B (0.85x the raw engine: about 2.4 ms per task around the
engine's 13.5) are sums over parts that every request or task must pass.
This measures each part with the libraries the system uses and nothing of
Convertix in between, so the targets can be read against what the parts
themselves cost here:
  - http: gunicorn with a gevent worker and a bare WSGI app
    (bench/floor_app.py): one B photo as a raw body (also through a bare
    Flask app), and as one part of a 50-file multipart body parsed by
    werkzeug; the worker's CPU;
  - amqp: kombu on RabbitMQ (its own vhost): a persistent message published
    with a confirm to a durable queue, consumed and acked; the clients' CPU
    and RabbitMQ's (its processes in this machine's namespace);
  - nameko: an RPC to a service that answers at once, through nameko's
    proxy (client, service and RabbitMQ), and an event handled by an
    entrypoint that only counts (the service's CPU);
  - database: SQLAlchemy's ORM on SQLite (WAL, as the services run it): a
    job and its task inserted and the user's bytes upserted, committed
    alone, and 8 of them in one transaction (a group commit).
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests
from kombu import Connection, Exchange, Queue

from bench import proctimes
from bench.pipeline import ROOT, photo_like
from bench.thumbor import MANAGEMENT, own_vhost

# bench/batches.py's works: (input size, seed, files per job)
WORKS = {"A": ((4000, 3000), 1, 24), "B": ((1920, 1080), 2, 50)}


def cpu_of(pids):
    return sum(proctimes.cpu_ns(pid) or 0 for pid in pids)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- http ------------------------------------------------------------------------

def http(data, requests_count, jobs, files_per_job):
    """(ms per raw-body request, the same through a bare Flask app, ms per
    file of a multipart body of `files_per_job` files) of the worker's CPU."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="floor-")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
         "bench.floor_app:app"], cwd=ROOT, env={**os.environ, "FLOOR_DIR": folder},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/raw", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        session = requests.Session()
        for path in ("/raw", "/flask/raw"):  # warm: the worker's buffers, Flask's first request
            for _ in range(20):
                session.post(url + path, data=data, timeout=30).raise_for_status()
        tree = lambda: proctimes.descendants(server.pid)  # noqa: E731
        before = cpu_of(tree())
        for _ in range(requests_count):
            session.post(url + "/raw", data=data, timeout=30).raise_for_status()
        raw = (cpu_of(tree()) - before) / 1e6 / requests_count
        before = cpu_of(tree())
        for _ in range(requests_count):
            session.post(url + "/flask/raw", data=data, timeout=30).raise_for_status()
        flask = (cpu_of(tree()) - before) / 1e6 / requests_count
        files = [("file", (f"{n}.jpg", data, "image/jpeg")) for n in range(files_per_job)]
        before = cpu_of(tree())
        for _ in range(jobs):
            session.post(url + "/multipart", files=files, timeout=60).raise_for_status()
        multipart = (cpu_of(tree()) - before) / 1e6 / (jobs * files_per_job)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        os.rmdir(folder)
    return raw, flask, multipart


# --- amqp ------------------------------------------------------------------------

def _broker_pids():
    """RabbitMQ's processes in this machine's pid namespace (not a container's)."""
    return [pid for pid, name in proctimes.backend_pids().items() if name == "rabbitmq"]


def amqp(count, size=600):
    """(clients' ms, RabbitMQ's ms) per persistent confirmed message, published and consumed."""
    vhost = own_vhost()
    exchange = Exchange("floor", type="direct", durable=True)
    queue = Queue("floor.tasks", exchange, routing_key="task", durable=True)
    body = {"payload": "x" * size}
    got = []
    try:
        with Connection(f"pyamqp://guest:guest@localhost:5672/{vhost}",
                        transport_options={"confirm_publish": True}) as publisher, \
                Connection(f"pyamqp://guest:guest@localhost:5672/{vhost}") as consumer:
            producer = publisher.Producer(exchange=exchange)
            producer.publish(body, routing_key="task", declare=[queue], delivery_mode=2)
            with consumer.Consumer(queue, callbacks=[lambda _b, m: (m.ack(), got.append(1))],
                                   prefetch_count=1):
                consumer.drain_events(timeout=10)
                broker, ours = cpu_of(_broker_pids()), time.process_time()
                for _ in range(count):
                    producer.publish(body, routing_key="task", delivery_mode=2)
                    consumer.drain_events(timeout=10)
                clients = (time.process_time() - ours) * 1e3 / count
                rabbit = (cpu_of(_broker_pids()) - broker) / 1e6 / count
    finally:
        requests.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30)
    assert len(got) == count + 1, len(got)
    return clients, rabbit


# --- nameko ------------------------------------------------------------------------

def nameko_rpc(count):
    """(client's ms, service's ms, RabbitMQ's ms) per RPC call to a service
    that answers at once (bench/floor_service.py), through nameko's own
    proxy: what an RPC costs before the service does anything."""
    from nameko.exceptions import UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    vhost = own_vhost()
    uri = f"pyamqp://guest:guest@localhost:5672/{vhost}"
    folder = tempfile.mkdtemp(prefix="floor-nameko-")
    config = os.path.join(folder, "config.yaml")
    with open(config, "w") as f:
        f.write(f"AMQP_URI: {uri}\n")
    service = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config", config,
                                "bench.floor_service"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ClusterRpcProxy({"AMQP_URI": uri}, timeout=60) as proxy:
            deadline = time.monotonic() + 60
            while True:  # until the service consumes
                try:
                    proxy.floor.echo("warm")
                    break
                except UnknownService:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            tree = proctimes.descendants(service.pid)
            ours, theirs, broker = time.process_time(), cpu_of(tree), cpu_of(_broker_pids())
            for n in range(count):
                proxy.floor.echo({"n": n, "payload": "x" * 300})
            client = (time.process_time() - ours) * 1e3 / count
            served = (cpu_of(tree) - theirs) / 1e6 / count
            rabbit = (cpu_of(_broker_pids()) - broker) / 1e6 / count
            handled = _events(uri, proxy, tree, count)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)
        os.remove(config)
        os.rmdir(folder)
        requests.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30)
    return client, served, rabbit, handled


def _events(uri, proxy, tree, count):
    """The service's ms per event handled (an event handler that only counts;
    the events published by nameko's own dispatcher, with confirms)."""
    from nameko.standalone.events import event_dispatcher

    dispatch = event_dispatcher({"AMQP_URI": uri})
    dispatch("floor_source", "ended", {"warm": True})
    start = proxy.floor.handled()
    deadline = time.monotonic() + 60
    while proxy.floor.handled() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    start, theirs = proxy.floor.handled(), cpu_of(tree)
    for n in range(count):
        dispatch("floor_source", "ended", {"n": n, "payload": "x" * 300})
    while proxy.floor.handled() < start + count:
        if time.monotonic() > deadline:
            raise TimeoutError("the events were not all handled")
        time.sleep(0.05)
    return (cpu_of(tree) - theirs) / 1e6 / count


# --- database --------------------------------------------------------------------

def database(count, group=8):
    """(ms per record committed alone, ms per record in a transaction of `group`)."""
    from sqlalchemy import Column, ForeignKey, Integer, String, create_engine, event
    from sqlalchemy.dialects.sqlite import insert
    from sqlalchemy.orm import Session, declarative_base, relationship

    Base = declarative_base()

    class Job(Base):
        __tablename__ = "jobs"
        id = Column(String(32), primary_key=True)
        user_id = Column(String(32), index=True)
        status = Column(String(16))
        options = Column(String)
        tasks = relationship("Task")

    class Task(Base):
        __tablename__ = "tasks"
        id = Column(Integer, primary_key=True)
        job_id = Column(String(32), ForeignKey("jobs.id"), index=True)
        index = Column(Integer)
        status = Column(String(16))
        output_bytes = Column(Integer)

    class Usage(Base):
        __tablename__ = "storage_usage"
        user_id = Column(String(32), primary_key=True)
        used_bytes = Column(Integer)

    folder = tempfile.mkdtemp(prefix="floor-db-")
    engine = create_engine(f"sqlite:///{folder}/floor.db")
    event.listen(engine, "connect", lambda conn, _r: conn.execute("PRAGMA journal_mode=WAL"))
    Base.metadata.create_all(engine)
    serial = iter(range(10**9))

    def record(session):
        n = next(serial)
        session.add(Job(id=f"{n:032x}", user_id="u" * 32, status="succeeded", options="{}",
                        tasks=[Task(index=0, status="succeeded", output_bytes=3000)]))
        session.execute(insert(Usage).values(user_id="u" * 32, used_bytes=3000)
                        .on_conflict_do_update(index_elements=["user_id"],
                                               set_={"used_bytes": Usage.used_bytes + 3000}))

    def per_record(each):
        started = time.process_time()
        with Session(engine) as session:
            for _ in range(count // each):
                for _ in range(each):
                    record(session)
                session.commit()
        return (time.process_time() - started) * 1e3 / (count // each * each)

    try:
        per_record(1)  # warm: statement caches
        return per_record(1), per_record(group)
    finally:
        engine.dispose()
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="requests, messages, records")
    parser.add_argument("--work", default="B", choices=sorted(WORKS), help="whose input")
    args = parser.parse_args(argv)
    size, seed, files_per_job = WORKS[args.work]
    data = photo_like(size, seed)
    count = args.count if args.work == "B" else max(24, args.count // 6)  # A: 6x the bytes
    raw, flask, multipart = http(data, count, max(1, count // files_per_job), files_per_job)
    clients, rabbit = amqp(args.count)
    rpc_client, rpc_service, rpc_rabbit, handled = nameko_rpc(args.count)
    alone, grouped = database(args.count)
    message = clients + rabbit
    print(f"\nthe parts alone, CPU ms; work {args.work}'s input, {len(data) / 1e3:.0f} kB; "
          f"{os.cpu_count()} CPUs\n")
    print("| part | per unit |")
    print("|---|---|")
    print(f"| http: a raw-body request (gunicorn gevent worker) | {raw:.2f} |")
    print(f"| http: the same through a bare Flask app | {flask:.2f} |")
    print(f"| http: one file of a {files_per_job}-file multipart body | {multipart:.2f} |")
    print(f"| amqp: a persistent confirmed message, clients + RabbitMQ | "
          f"{message:.2f} ({clients:.2f} + {rabbit:.2f}) |")
    rpc = rpc_client + rpc_service + rpc_rabbit
    print(f"| nameko: an RPC answered at once, client + service + RabbitMQ | {rpc:.2f} "
          f"({rpc_client:.2f} + {rpc_service:.2f} + {rpc_rabbit:.2f}) |")
    print(f"| nameko: an event handled (the service's side only) | {handled:.2f} |")
    print(f"| database: a record (job, task, bytes), committed alone | {alone:.2f} |")
    print(f"| database: a record in a transaction of 8 | {grouped:.2f} |")
    convert = raw + 3 * message + alone
    batch = multipart + 2 * message / 8 + grouped
    print(f"\n/convert with nothing but these (a request, 3 messages, a record): {convert:.2f} ms")
    print(f"/convert as built on Flask and Nameko (a Flask request, the quota RPC, 3 messages, "
          f"two of them handled by Nameko entrypoints, a record): "
          f"{flask + rpc + 3 * message + 2 * handled + alone:.2f} ms")
    print(f"a batch task with nothing but these (a file part, 2 messages per chunk of 8, a "
          f"record in 8): {batch:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
