"""Small helpers for tests: waiting on a condition with a deadline, corpus access."""
import csv
import os
import time

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")


def wait_until(condition, timeout=30.0, interval=0.05, message="condition"):
    """Poll `condition()` until it returns something truthy; fail at the deadline.

    Returns what the condition returned. Used wherever a test waits on work
    done by another process or greenthread: never a bare sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def corpus_rows():
    with open(os.path.join(CORPUS, "MANIFEST.tsv"), newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def corpus_path(relative):
    return os.path.join(CORPUS, relative)


def corpus_bytes(relative):
    with open(corpus_path(relative), "rb") as handle:
        return handle.read()
