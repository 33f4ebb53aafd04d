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


# the name is looked up again at most this often; a lookup is allowed this
# long, then the last answer serves (Docker's DNS answered in seconds, not
# milliseconds, while the processing node was down)
REFRESH_S = 10.0
LOOKUP_S = 1.0


class Members:
    def __init__(self, host, port, resolver=resolve, clock=time.monotonic,
                 bounded=None):
        self.host, self.port = host, port
        self._resolve, self._clock = resolver, clock
        self._bounded = bounded or _no_bound
        self._failed_at = {}
        self._known, self._known_at = [], float("-inf")
        self._lock = threading.Lock()

    def pick(self):
        """An address to connect to; None where the name never resolved
        (the caller then connects by name, and fails as it would)."""
        addresses = self._addresses()
        with self._lock:
            return choose(addresses, dict(self._failed_at), self._clock())

    def _addresses(self):
        now = self._clock()
        if now - self._known_at > REFRESH_S or not self._known:
            try:
                found = self._bounded(LOOKUP_S, lambda: self._resolve(self.host, self.port))
            except (OSError, LookupTooSlow):
                found = None
            if found:
                self._known = found
            self._known_at = now   # a slow or failed lookup is not tried again at once
        return list(self._known)

    def failed(self, address):
        if address is not None:
            with self._lock:
                self._failed_at[address] = self._clock()


class LookupTooSlow(Exception):
    pass


def _no_bound(seconds, lookup):
    return lookup()


def green_bound(seconds, lookup):
    """The lookup, cut after `seconds` under gevent (the gateway's workers)."""
    try:
        import gevent
        from gevent import monkey
    except ImportError:
        return lookup()
    if not monkey.is_module_patched("socket"):
        return lookup()
    with gevent.Timeout(seconds, LookupTooSlow()):
        return lookup()
