"""How much work waits in a queue: ready + unacknowledged messages, consumers.

Two sources, because each is wrong in its own way:
- the management HTTP API knows unacknowledged messages (tasks workers hold),
  but its figures are sampled (every 5 s by default) and a queue it has not
  sampled yet is answered without them;
- an AMQP passive declare is instant and exact, but counts only ready messages.
So `read()` takes ready messages and consumers from a passive declare and
unacknowledged ones from the management API; when that API is absent (the
plugin is off) or has no figure yet, `unacked` is 0 and `source` is "amqp":
the scaler then sees ready messages only, and may scale busy replicas down
(drained, so nothing is lost, but capacity goes early). Keep the plugin on.
Used by the scaler and the gateway's admin stats, with the queue name from
convertix.contract.
"""
from dataclasses import asdict, dataclass
from urllib.parse import quote, unquote, urlparse

import requests
from kombu import Connection

MANAGEMENT_TIMEOUT_S = 5


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int
    unacked: int        # 0 when unknown (see `source`)
    consumers: int
    source: str         # "amqp+management" | "amqp" (unacked unknown)

    @property
    def backlog(self):
        return self.ready + self.unacked

    def to_dict(self):
        return {**asdict(self), "backlog": self.backlog}


def vhost_of(amqp_uri):
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if path not in ("", "/") else "/"


class QueueStatsReader:
    def __init__(self, amqp_uri, management_url=None):
        self.amqp_uri = amqp_uri
        self.management_url = (management_url or "").rstrip("/")
        self.vhost = vhost_of(amqp_uri)
        self.http = requests.Session()

    def read(self, queue):
        ready, consumers = self.declare_passive(queue)
        unacked = self.management_unacked(queue)
        if unacked is None:
            return QueueStats(queue, ready, 0, consumers, "amqp")
        return QueueStats(queue, ready, unacked, consumers, "amqp+management")

    def declare_passive(self, queue):
        """(ready, consumers); raises if the broker is unreachable or the queue
        does not exist yet (the first converter or jobs service declares it)."""
        with Connection(self.amqp_uri, connect_timeout=5) as conn:
            _, ready, consumers = conn.default_channel.queue_declare(queue=queue, passive=True)
            return ready, consumers

    def management_unacked(self, queue):
        if not self.management_url:
            return None
        url = f"{self.management_url}/api/queues/{quote(self.vhost, safe='')}/{quote(queue, safe='')}"
        try:
            answer = self.http.get(url, timeout=MANAGEMENT_TIMEOUT_S)
            if answer.status_code != 200:
                return None
            return answer.json().get("messages_unacknowledged")
        except (requests.RequestException, ValueError):
            return None

    def close(self):
        self.http.close()
