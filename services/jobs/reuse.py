"""Reused results (docs/DESIGN.md "Reused results"): the same input bytes
with the same options, uploaded again by the same user, get the earlier
result instead of a conversion.

A task's `reuse_key` is the SHA-256 of (user, the input's SHA-256 as the
gateway hashed it while storing it, the canonical options). The user is in
the key and the lookup is by the job's owner as well, so a result is never
reused across users. A candidate counts only if it succeeded and its output
file is still there (retention, cancel or DELETE may have removed it); the
new task's own output path becomes a second name of that file (a hard link,
or a copy), so removing either job leaves the other's result whole.
"""
import hashlib
import json
import re

from sqlalchemy import select

from convertix.imaging.formats import extension
from convertix.options import FIELDS, normalise_format
from services.jobs import states
from services.jobs.models import Job, Task

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Earlier results tried per task, newest first: more than one only matters
# when the newest's file has just gone.
CANDIDATES = 3
# What a reused task takes over from the task it reuses (same bytes: same input too).
COPIED = ("input_format", "input_width", "input_height", "output_format", "output_width",
          "output_height", "output_bytes")


def _canonical_value(value):
    """One spelling per value: 90.0 is 90, #FFF is #fff, objects sorted (by json)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.startswith("#"):
        return value.lower()
    if isinstance(value, dict):
        return {key: _canonical_value(item) for key, item in value.items()}
    return value


def canonical_options(options):
    """Options as one JSON text: defaults filled in (convertix/options.py's
    table), the format's alias resolved, keys sorted. Options that differ only
    in spelling or in defaults left out give the same text."""
    complete = {field: default for field, (default, _check) in FIELDS.items()}
    complete.update({key: value for key, value in options.items() if value is not None})
    complete["format"] = normalise_format(complete.get("format"))
    return json.dumps({key: _canonical_value(value) for key, value in complete.items()},
                      sort_keys=True, separators=(",", ":"))


def reuse_key(user_id, sha256, options):
    """The task's key, or None without a well-formed input hash."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        return None
    text = json.dumps([user_id, sha256, canonical_options(options)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _reusable(user_id, keys):
    return (Task.reuse_key.in_(keys), Job.user_id == user_id, Task.status == states.SUCCEEDED,
            Task.output_format.is_not(None))


def known_keys(session, user_id, keys):
    """Which of these keys have a result of the user: one query for a whole
    job (new content, the usual case, costs no more)."""
    if not keys:
        return set()
    return set(session.execute(
        select(Task.reuse_key).join(Job).where(*_reusable(user_id, keys)).distinct()).scalars())


def candidates(session, user_id, key):
    """The user's succeeded tasks with this key, newest first."""
    return list(session.execute(
        select(Task).join(Job).where(*_reusable(user_id, [key]))
        .order_by(Task.id.desc()).limit(CANDIDATES)).scalars())


def link_result(storage, source, job_id, index):
    """Make the source task's output file the new task's; False if it has gone."""
    fmt = extension(source.output_format)
    try:
        storage.link(storage.output_path(source.job_id, source.index, fmt),
                     storage.output_path(job_id, index, fmt))
    except FileNotFoundError:
        return False
    return True


def reuse(session, storage, job, files, enabled):
    """Give each of the new job's tasks its key, and each that has an earlier
    result that result, succeeded at once (before the job is committed: the
    caller removes the job's folder if it is not). The count reused."""
    options = json.loads(job.options)
    for task, info in zip(job.tasks, files):
        task.reuse_key = reuse_key(job.user_id, info.get("sha256"), options)
    keys = sorted({task.reuse_key for task in job.tasks if task.reuse_key})
    known = known_keys(session, job.user_id, keys) if enabled else set()
    reused = 0
    for task in job.tasks:
        if task.reuse_key not in known:
            continue
        source = next((c for c in candidates(session, job.user_id, task.reuse_key)
                       if link_result(storage, c, job.id, task.index)), None)
        if source is None:
            continue
        for column in COPIED:
            setattr(task, column, getattr(source, column))
        task.status, task.reused = states.SUCCEEDED, True
        reused += 1
    return reused
