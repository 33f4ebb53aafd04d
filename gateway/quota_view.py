"""This gateway process's view of each user's stored bytes, so that most
/convert requests check the quota without a round trip to the jobs service.

The jobs service keeps the count (services/jobs/quota.py) and gives it with
its answer to `admit_convert`. This process remembers that answer for
GATEWAY.quota_view_s and adds every byte it admits itself meanwhile (each
input, and each output once answered). A /convert is admitted here only
while the user stays at least MARGIN of the quota below it, counting those,
and while this process has admitted at most a SHARES-th of that margin on
its own since the answer; otherwise (no answer yet, an old one, its share
used, or near the quota) the jobs service is asked as before, and its
answer, or its 413, is the rule.

What the view cannot see is what changed elsewhere since the answer (other
gateway processes' /converts, POST /jobs, deletions), at most quota_view_s
of it. The shares keep the quota from being passed by what the processes
admit unseen, up to SHARES gateway processes serving one user at once; what
the user's POST /jobs or other changes add meanwhile is bounded by
quota_view_s. The view counts more than is stored, never less (a
/convert's input goes once its job ends), which only sends a request to the
service sooner. A quota check was never a ledger here: admit_convert only
reads, and a /convert's bytes are counted when it is recorded, after the
answer (docs/DESIGN.md "/convert records after answering").
"""
import threading
import time
from dataclasses import dataclass

from gateway.settings import default

EXTENSION = "convertix.quota_view"
MARGIN = 0.1           # of the quota: nearer than this, every /convert asks the service
SHARES = 8             # a process admits at most MARGIN / SHARES of the quota between answers
MOST_USERS = 10_000    # remembered per process; then the view starts again empty


@dataclass
class Known:
    used: int          # the service's count at `at`
    quota: int
    at: float          # when the answer came (the view's clock)
    added: int = 0     # bytes this process admitted since


def admits(known, adding, now, max_age_s, margin=MARGIN, shares=SHARES):
    """Whether `adding` more bytes may be admitted without asking the service."""
    if known is None or now - known.at >= max_age_s or now < known.at:
        return False
    room = known.quota - known.used - known.added - adding
    own = known.added + adding
    return room >= margin * known.quota and own * shares <= margin * known.quota


class QuotaView:
    def __init__(self, max_age_s, clock=time.monotonic, most_users=MOST_USERS):
        self.max_age_s = float(max_age_s)
        self.clock = clock
        self.most_users = most_users
        self.known = {}
        self.lock = threading.Lock()

    def admit(self, user_id, adding):
        """True: admitted and counted here. False: ask the jobs service."""
        if self.max_age_s <= 0:
            return False
        with self.lock:
            known = self.known.get(user_id)
            if not admits(known, adding, self.clock(), self.max_age_s):
                return False
            known.added += adding
            return True

    def learned(self, user_id, used, quota, adding=0):
        """The service's answer (it admitted `adding` more bytes with it)."""
        if self.max_age_s <= 0:
            return
        with self.lock:
            if len(self.known) >= self.most_users and user_id not in self.known:
                self.known.clear()
            self.known[user_id] = Known(int(used), int(quota), self.clock(), int(adding))

    def add(self, user_id, nbytes):
        """Bytes this process stored for the user since (an answered output)."""
        with self.lock:
            known = self.known.get(user_id)
            if known is not None:
                known.added += int(nbytes or 0)


def init_app(app):
    app.extensions[EXTENSION] = QuotaView(app.config.get("QUOTA_VIEW_S", default("QUOTA_VIEW_S")))


def quota_view(app):
    return app.extensions[EXTENSION]
