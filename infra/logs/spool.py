"""The disk spool: what could not be shipped yet, in order.

Each process owns one folder, `<spool_dir>/<name>-<host>-<pid>-<random>/`, and holds
an exclusive `flock` on its `lock` file while it lives. A segment is a file
of (sequence number, ECS line) pairs, written to a temporary name and renamed,
so a reader never sees half of one; its name is its first sequence number, so
sorting the names replays the lines in the order they were logged.

A folder whose lock nobody holds belongs to a process that ended (or was
killed) with lines still unshipped: the next shipper to look adopts it and
replays it before its own lines, then removes it.
"""
import fcntl
import json
import os
import shutil
import socket
import uuid

SEGMENT_SUFFIX = ".seg"
LOCK = "lock"


class Spool:
    def __init__(self, path, lock_handle):
        self.path = path
        self._lock_handle = lock_handle

    @classmethod
    def create(cls, root, name):
        host = socket.gethostname().replace(os.sep, "_")
        path = os.path.join(root, f"{name}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.makedirs(path, exist_ok=True)
        handle = open(os.path.join(path, LOCK), "a")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(path, handle)

    @classmethod
    def adopt_orphans(cls, root, exclude=()):
        """The spools of processes that are gone, now locked by us."""
        adopted = []
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return adopted
        for name in names:
            path = os.path.join(root, name)
            if path in exclude or not os.path.isdir(path):
                continue
            try:
                handle = open(os.path.join(path, LOCK), "a")
            except OSError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its process is alive
                handle.close()
                continue
            adopted.append(cls(path, handle))
        return adopted

    @property
    def id(self):
        """Unique to the process that made it: with a sequence number, a line's `_id`."""
        return os.path.basename(self.path)

    def segments(self):
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.path, n) for n in names if n.endswith(SEGMENT_SUFFIX))

    def oldest(self):
        segments = self.segments()
        return segments[0] if segments else None

    def write(self, entries):
        """Store [(seq, line)] as one segment (atomically)."""
        if not entries:
            return None
        path = os.path.join(self.path, f"{entries[0][0]:020d}{SEGMENT_SUFFIX}")
        temporary = f"{path}.{uuid.uuid4().hex[:6]}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            for seq, line in entries:
                handle.write(json.dumps([seq, line]) + "\n")
        os.replace(temporary, path)
        return path

    @staticmethod
    def read(segment):
        entries = []
        with open(segment, encoding="utf-8") as handle:
            for raw in handle:
                try:
                    seq, line = json.loads(raw)
                except ValueError:
                    continue
                entries.append((int(seq), line))
        return entries

    def replace(self, segment, entries):
        """What is left of a segment after a partial send."""
        if entries:
            temporary = segment + ".tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                for seq, line in entries:
                    handle.write(json.dumps([seq, line]) + "\n")
            os.replace(temporary, segment)
        else:
            os.remove(segment)

    def size(self):
        total = 0
        for segment in self.segments():
            try:
                total += os.path.getsize(segment)
            except FileNotFoundError:
                pass
        return total

    def remove_if_empty(self):
        """An adopted spool, once replayed, goes away."""
        if not self.segments():
            shutil.rmtree(self.path, ignore_errors=True)
            self.close()
            return True
        return False

    def close(self):
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
