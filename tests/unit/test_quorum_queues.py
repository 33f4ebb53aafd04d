"""Which queues become quorum queues (infra/nameko/quorum.py)."""
import pytest

from infra.nameko.quorum import quorum_queue, wants_quorum

CASES = [
    # (durable, auto_delete, exclusive, arguments) -> quorum?
    ((True, False, False, None), True),                         # rpc-<service>, evt-... (pool)
    ((True, False, False, {"x-expires": 300000}), False),       # nameko's RPC reply queue
    ((True, True, False, None), False),                         # auto-delete (broadcast handler)
    ((True, False, True, None), False),                         # exclusive
    ((False, False, False, None), False),                       # not durable
    ((True, False, False, {"x-queue-type": "classic"}), False),  # a type asked for is kept
]


@pytest.mark.parametrize("settings, quorum", CASES)
def test_wants_quorum(settings, quorum):
    assert wants_quorum(*settings) is quorum


def test_quorum_queue_adds_the_type_and_keeps_the_other_arguments():
    queue = quorum_queue("rpc-jobs", durable=True, queue_arguments={"x-max-length": 5})
    assert queue.queue_arguments == {"x-max-length": 5, "x-queue-type": "quorum"}
    reply = quorum_queue("rpc.reply-x", queue_arguments={"x-expires": 1000})
    assert reply.queue_arguments == {"x-expires": 1000}
