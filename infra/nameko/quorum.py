"""Quorum queues for every durable queue a service declares, where
AMQP_QUEUE_TYPE says `quorum` (the Swarm stack, whose RabbitMQ is a cluster
of three; that stack is not merged yet: docs/DESIGN.md "Quorum queues").

A quorum queue is replicated on the cluster's nodes (Raft): with one broker
node lost its messages are still there and the queue goes on. Nameko 2.14
builds its own queues (each service's `rpc-<service>`, each event handler's
`evt-...`) with kombu's Queue inside `setup()`, with fixed arguments and none
from config; so where quorum is asked for, the `Queue` those two modules use
becomes `quorum_queue` below, before any service is set up.

Not every queue can be quorum: an RPC caller's reply queue (nameko's has
`x-expires`, the gateway's are its own) and exclusive or auto-delete queues
belong to one connection and end with it; quorum queues are durable by
nature. They stay classic: a broker node lost takes the replies in flight on
it, and the caller's RPC times out and is retried. A queue already declared
classic cannot change type in place (RabbitMQ refuses the declaration), so
the default stays `classic` for the brokers that exist.
"""
from kombu import Queue


def wants_quorum(durable=True, auto_delete=False, exclusive=False, queue_arguments=None):
    """Whether a queue declared with these settings can and should be quorum."""
    arguments = queue_arguments or {}
    return bool(durable and not auto_delete and not exclusive
                and "x-expires" not in arguments and "x-queue-type" not in arguments)


def quorum_queue(*args, **kwargs):
    """kombu's Queue, quorum where wants_quorum() says so."""
    if wants_quorum(kwargs.get("durable", True), kwargs.get("auto_delete", False),
                    kwargs.get("exclusive", False), kwargs.get("queue_arguments")):
        kwargs["queue_arguments"] = {**(kwargs.get("queue_arguments") or {}),
                                     "x-queue-type": "quorum"}
    return Queue(*args, **kwargs)


def use(queue_type):
    """Make the queues declared from now on of this type (once, at start-up)."""
    if queue_type != "quorum":
        return
    import nameko.events
    import nameko.rpc

    from infra.nameko import queues

    nameko.rpc.Queue = nameko.events.Queue = quorum_queue
    # ours, built at import time (the jobs service's @consume takes it then)
    queues.dead_letter_queue.queue_arguments = {
        **(queues.dead_letter_queue.queue_arguments or {}), "x-queue-type": "quorum"}
