"""Fair sharing with real RabbitMQ, a real database and the real converter:
a user's backlog does not hold up another user's task."""
import pytest
from sqlalchemy import create_engine, select

from infra.nameko.capacity import Capacity
from services.converter.service import ConverterService
from services.jobs.models import Job, Task
from services.jobs.service import JobsService
from tests.conftest import make_service_config
from tests.helpers import wait_until
from tests.integration.conftest import Client, png_bytes

CAP = 2
BACKLOG = 30


@pytest.fixture
def config(rabbit_config, db_url, storage_root):
    # one converter, two sandboxes: the cap is the converter's width
    return make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root,
                               max_workers=2, JOBS={"max_tasks_in_flight_per_user": CAP})


def times(db_url, job_id):
    """The job's creation, and when each of its tasks last changed (its end, once final)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            created = conn.execute(select(Job.created_at).where(Job.id == job_id)).scalar_one()
            return created, list(conn.execute(
                select(Task.updated_at).where(Task.job_id == job_id)).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def default_config(rabbit_config, db_url, storage_root):
    """No cap configured: each user's share of the sandboxes (fair.share)."""
    return make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root, max_workers=2)


def test_the_capacity_is_the_sandboxes_consuming_the_queue(runner_factory, default_config):
    ticks = iter(range(0, 10**6, 10))  # each read past the cache's 2 s
    capacity = Capacity(default_config["AMQP_URI"], per_consumer=2, clock=lambda: next(ticks))
    runner_factory(default_config, JobsService).start()  # declares the queue; consumes none
    assert capacity.sandboxes() == 0
    runner_factory(default_config, ConverterService).start()
    assert capacity.sandboxes() == 2  # one converter of 2 sandboxes


# The default: alone, Alice has the window on the queue (2 sandboxes and one
# task ahead of each: 4) when Bob comes; those go first, one more of hers may
# end while Bob's converts, and a refill of hers racing Bob's creation may
# still be published ahead of him: 4 + 1. Without the share, the rest of her 30.
@pytest.mark.parametrize("settings, bound", [("config", 2 * CAP), ("default_config", 5)])
def test_a_single_task_is_served_while_another_user_has_a_backlog(runner_factory, settings,
                                                                    bound, db_url, request):
    config = request.getfixturevalue(settings)
    runner_factory(config, JobsService, ConverterService).start()
    alice, bob = Client(config), Client(config)
    image = png_bytes((600, 400))
    backlog = alice.submit([(f"{n}.png", image) for n in range(BACKLOG)], format="webp")
    # Alice's first tasks are under way before Bob comes
    wait_until(lambda: any(t["status"] != "queued" for t in alice.job(backlog["id"])["tasks"]),
               timeout=60, message="alice's backlog to start")

    single = bob.submit([("b.png", image)], format="webp")
    assert bob.wait_final(single["id"])["status"] == "succeeded"

    bob_came, (bob_done,) = times(db_url, single["id"])
    assert alice.wait_final(backlog["id"], timeout=180)["status"] == "succeeded"
    done = sum(bob_came < at < bob_done for at in times(db_url, backlog["id"])[1])
    # While Bob waited, at most what Alice had on the queue (the cap, or alone
    # twice the 2 sandboxes) and what was converting then ended; without the
    # cap, the rest of her 30 did
    assert done <= bound, f"{done} of alice's tasks ended while bob's one waited"


def test_the_capacity_read_of_a_broker_that_never_answers_ends_within_its_bound(rabbit_config):
    import time
    from urllib.parse import urlsplit

    from infra.nameko import capacity as capacity_module
    from tests.integration.test_rpc_failfast import Mute

    mute = Mute()
    parts = urlsplit(rabbit_config["AMQP_URI"])
    uri = parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{mute.port}").geturl()
    capacity = Capacity(uri, per_consumer=2)
    begun = time.monotonic()
    try:
        assert capacity.sandboxes() == 0      # unknown: the caller's floor
    finally:
        mute.close()
    assert time.monotonic() - begun < capacity_module.READ_S + 1.5
