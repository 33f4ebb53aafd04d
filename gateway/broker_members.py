"""Which broker member a new RPC proxy connects to.

The stack's broker name (`rabbitmq`) resolves to every member's address, and
Swarm's DNS may go on listing a member whose node went; a client that takes
the resolver's order keeps trying it first, each time waiting for its connect
timeout. The pool picks among the addresses itself, at random, and shuns for
SHUN_S an address where a start or a call failed on the connection.
"""
import random
import socket
import threading
import time

SHUN_S = 30.0


def choose(addresses, failed_at, now, shun_s=SHUN_S, rand=random):
    """One of `addresses`: at random among those that did not fail within
    `shun_s`; where every one did, the one that failed longest ago."""
    if not addresses:
        return None
    fresh = [a for a in addresses if now - failed_at.get(a, float("-inf")) > shun_s]
    if fresh:
        return rand.choice(fresh)
    return min(addresses, key=lambda a: failed_at[a])


def resolve(host, port):
    """Every IPv4 address `host` resolves to (else every address), once each:
    `localhost` is also ::1, where a broker may not listen."""
    try:
        found = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    seen = []
    for *_, sockaddr in found:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


class Members:
    def __init__(self, host, port, resolver=resolve, clock=time.monotonic):
        self.host, self.port = host, port
        self._resolve, self._clock = resolver, clock
        self._failed_at = {}
        self._lock = threading.Lock()

    def pick(self):
        """An address to connect to; None where the name does not resolve
        (the caller then connects by name, and fails as it would)."""
        try:
            addresses = self._resolve(self.host, self.port)
        except OSError:
            return None
        with self._lock:
            return choose(addresses, dict(self._failed_at), self._clock())

    def failed(self, address):
        if address is not None:
            with self._lock:
                self._failed_at[address] = self._clock()
