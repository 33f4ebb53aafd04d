"""Which due webhook attempts start now. Pure functions.

Attempts run in the notifier's own pool, never inside its event workers,
and no one user or receiver may hold it: at most `per_user` attempts of one
user and `per_host` to one receiver (host and port) are in flight at once,
`total` in all. A receiver that accepts and never answers (a black hole)
holds its owner's slots for `timeout_s` each; another user's attempt finds
free slots and starts at once. The deliveries that must wait stay due in
the database and start as slots free up, oldest first.
"""
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Limits:
    """config.yaml's NOTIFIER keys; their defaults and checks: infra/config/schema.py."""
    total: int      # NOTIFIER.concurrency
    per_user: int   # NOTIFIER.per_user_in_flight
    per_host: int   # NOTIFIER.per_host_in_flight

    @classmethod
    def from_config(cls, values):
        return cls(total=int(values["concurrency"]), per_user=int(values["per_user_in_flight"]),
                   per_host=int(values["per_host_in_flight"]))


@dataclass
class InFlight:
    """The attempts running now in this process, counted by user and by host."""
    users: Counter
    hosts: Counter
    total: int = 0

    @classmethod
    def empty(cls):
        return cls(Counter(), Counter())

    def add(self, user, host):
        self.users[user] += 1
        self.hosts[host] += 1
        self.total += 1

    def remove(self, user, host):
        self.users[user] -= 1
        self.hosts[host] -= 1
        self.total -= 1
        self.users += Counter()  # drops the zeros, so the maps stay small
        self.hosts += Counter()

    def busy_users(self, limits):
        return sorted(user for user, count in self.users.items() if count >= limits.per_user)


def host_key(url):
    """The receiver an attempt goes to: `host:port`, lower case; "" for a URL that has none."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower()}:{port}"


def pick(candidates, in_flight, limits):
    """Of `candidates` ([(job_id, user_id, host)], oldest due first), the ones
    to start now, counted into `in_flight` as they are picked."""
    chosen = []
    for job_id, user, host in candidates:
        if in_flight.total >= limits.total:
            break
        if in_flight.users[user] >= limits.per_user or in_flight.hosts[host] >= limits.per_host:
            continue
        in_flight.add(user, host)
        chosen.append((job_id, user, host))
    return chosen
