"""gateway/broker_members.py: which member a new RPC proxy connects to."""
import random

import pytest

from gateway.broker_members import Members, choose

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"


@pytest.mark.parametrize("addresses, failed_at, now, allowed", [
    ([A, B, C], {}, 100.0, {A, B, C}),             # none failed: any
    ([A, B, C], {A: 90.0}, 100.0, {B, C}),         # A failed 10 s ago: shunned
    ([A, B, C], {A: 60.0}, 100.0, {A, B, C}),      # 40 s ago: back in
    ([A, B], {A: 95.0, B: 90.0}, 100.0, {B}),      # every one failed: the oldest failure
    ([], {}, 100.0, {None}),
])
def test_choose(addresses, failed_at, now, allowed):
    for seed in range(20):
        assert choose(addresses, failed_at, now, shun_s=30, rand=random.Random(seed)) in allowed


def test_a_member_that_failed_is_not_picked_while_shunned():
    clock = [0.0]
    members = Members("rabbitmq", 5672, resolver=lambda host, port: [A, B],
                      clock=lambda: clock[0])
    members.failed(A)
    assert {members.pick() for _ in range(30)} == {B}
    clock[0] = 31.0
    assert {members.pick() for _ in range(60)} == {A, B}


def test_the_name_is_looked_up_again_only_after_a_while_and_a_failed_lookup_keeps_the_last():
    clock = [0.0]
    answers = [[A], [B]]
    looked = []

    def resolver(host, port):
        looked.append(clock[0])
        answer = answers.pop(0) if answers else None
        if answer is None:
            raise OSError("timed out")
        return answer
    members = Members("rabbitmq", 5672, resolver=resolver, clock=lambda: clock[0])
    assert members.pick() == A
    clock[0] = 5.0
    assert members.pick() == A and looked == [0.0]     # not looked up again yet
    clock[0] = 11.0
    assert members.pick() == B and looked == [0.0, 11.0]
    clock[0] = 22.0
    assert members.pick() == B                          # the lookup failed: the last answer
    clock[0] = 25.0
    assert members.pick() == B and looked == [0.0, 11.0, 22.0]   # not tried again at once


def test_a_name_that_does_not_resolve_is_connected_to_by_name():
    def fails(host, port):
        raise OSError("no such host")
    assert Members("rabbitmq", 5672, resolver=fails).pick() is None
