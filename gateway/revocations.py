"""Is a session revoked (logged out)? Cheap on every request, and right in
every gateway process.

Each authenticated request used to ask the accounts service (an RPC: ~5 ms
of CPU between the two processes). Now:

1. The gateway that handles a logout, once the accounts service has recorded
   it, leaves a marker file for the session in the storage folder
   (`<root>/.revoked/<sid>`, its mtime the session's end). Every gateway
   process that shares the folder sees it on the next request: one stat().
   So a logged-out token is refused at once, whichever process it reaches.
2. The accounts service stays the record. Its answer is asked for at most
   once per session every REMOTE_CHECK_S seconds per process, so a
   revocation that did not go through a gateway of this folder is seen
   within that window. A revoked answer is kept.

Markers past their session's end are removed when a gateway starts.
"""
import os
import re
import threading
import time

from convertix.contract import ACCOUNTS_SERVICE

EXTENSION = "convertix.revocations"
FOLDER = ".revoked"
REMOTE_CHECK_S = 30.0
MAX_REMEMBERED = 100_000          # sessions per process; then the oldest answers go
_SESSION_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


class Revocations:
    def __init__(self, root, ask, clock=time.monotonic):
        """ask(sid) -> bool: the accounts service's answer."""
        self.folder = os.path.join(root, FOLDER)
        self.ask = ask
        self.clock = clock
        self.checked = {}            # sid -> when the service last said "not revoked"
        self.revoked = set()
        self.lock = threading.Lock()

    def is_revoked(self, sid):
        if sid in self.revoked:
            return True
        if _SESSION_ID.fullmatch(sid) and os.path.exists(os.path.join(self.folder, sid)):
            self.revoked.add(sid)
            return True
        now = self.clock()
        checked = self.checked.get(sid)
        if checked is not None and now - checked < REMOTE_CHECK_S:
            return False
        if self.ask(sid):
            self.revoked.add(sid)
            return True
        with self.lock:
            if len(self.checked) >= MAX_REMEMBERED:
                self.checked.clear()
            self.checked[sid] = now
        return False

    def revoked_now(self, sid, ends_at):
        """After the accounts service recorded it: a marker for every process."""
        self.revoked.add(sid)
        if not _SESSION_ID.fullmatch(sid):
            return  # not a name for a file; the service's answer covers it
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, sid)
        with open(path, "ab"):
            pass
        os.utime(path, (ends_at, ends_at))

    def remove_ended(self):
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                if os.stat(path).st_mtime < time.time():
                    os.remove(path)
            except OSError:
                pass


def init_revocations(app, root, rpc):
    revocations = Revocations(root, lambda sid: rpc(app).call(
        ACCOUNTS_SERVICE, "is_token_revoked", sid))
    revocations.remove_ended()
    app.extensions[EXTENSION] = revocations
    return revocations
