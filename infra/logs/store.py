"""The local log store: each process appends its ECS lines to its own file.

`<dir>/<service>.<pid>.ndjson`, rotated once to `.ndjson.1` past
`max_file_bytes`. One writer per file: no locks between processes, and
rotating never races another process. Files of dead processes stay until
the folder passes `max_total_bytes` (oldest go first) or they are older than
`retention_days`. A line is written with one `write()` of the whole line and
flushed, so readers see whole lines (a torn last line is skipped).

`search()` reads every file, newest first; a substring test skips the lines
that cannot match before any JSON is parsed.
"""
import glob
import json
import os
import threading
import time

from infra.config.schema import LOGS
from infra.logs.search import newest_first_key

SUFFIX = ".ndjson"


class LocalStore:
    def __init__(self, directory, name, max_file_bytes=LOGS.default["max_file_bytes"],
                 max_total_bytes=LOGS.default["max_total_bytes"],
                 retention_days=LOGS.default["retention_days"]):
        self.directory = directory
        self.name = name
        self.max_file_bytes = int(max_file_bytes)
        self.max_total_bytes = int(max_total_bytes)
        self.retention_s = float(retention_days) * 86400
        self._lock = threading.Lock()
        self._file = None
        self._pid = None

    @property
    def path(self):
        return os.path.join(self.directory, f"{self.name}.{os.getpid()}{SUFFIX}")

    def write(self, line):
        data = (line + "\n").encode("utf-8", "replace")
        with self._lock:
            if self._pid != os.getpid():  # first write, or a forked child
                self._open()
            self._file.write(data)
            self._file.flush()
            if self._file.tell() > self.max_file_bytes:
                self._rotate()

    def close(self):
        with self._lock:
            if self._file is not None and self._pid == os.getpid():
                self._file.close()
            self._file = None

    def _open(self):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._pid = os.getpid()
        self._file = _private_append(self.path)
        self.prune()

    def _rotate(self):
        self._file.close()
        os.replace(self.path, self.path + ".1")
        self._file = _private_append(self.path)
        self.prune()

    def prune(self):
        """Remove others' old files: past retention, then oldest first past the total."""
        mine = {self.path, self.path + ".1"}
        files = []
        for path in log_files(self.directory):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        now = time.time()
        for mtime, size, path in files:
            if path in mine:
                continue
            if now - mtime > self.retention_s or total > self.max_total_bytes:
                try:
                    os.remove(path)
                    total -= size
                except FileNotFoundError:
                    pass


def log_files(directory):
    return glob.glob(os.path.join(glob.escape(directory), "*" + SUFFIX)) + glob.glob(
        os.path.join(glob.escape(directory), "*" + SUFFIX + ".1"))


def search(directory, query):
    """ECS documents of the local store that match `query` (a search.LogQuery), newest first."""
    needles = [_json_fragment(value) for value in query.exact_values()]
    # Non-ASCII is escaped in the lines (\uXXXX): only ASCII words prefilter.
    words = [word.lower() for word in query.words() if word.isascii()]
    found = []
    for path in log_files(directory):
        try:
            handle = open(path, "rb")
            written = os.fstat(handle.fileno()).st_mtime  # ties: the later file's lines
        except FileNotFoundError:  # rotated or pruned meanwhile
            continue
        with handle:
            for number, raw in enumerate(handle):
                line = raw.decode("utf-8", "replace")
                if any(needle not in line for needle in needles):
                    continue
                if words and not all(word in line.lower() for word in words):
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:  # a line being written
                    continue
                if query.matches(doc):
                    found.append((newest_first_key(doc), written, number, doc))
    found.sort(key=lambda item: item[:3], reverse=True)
    return [doc for *_, doc in found[:query.limit]]


def _json_fragment(value):
    """How a value appears inside an ECS line (a JSON string, or a number)."""
    return json.dumps(value) if isinstance(value, str) else str(value)


def _private_append(path):
    """An unbuffered append handle on a 0600 file: log lines carry user names,
    job ids and error texts, for the service user's eyes only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab", buffering=0)
