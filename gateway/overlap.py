"""A multipart `POST /jobs` whose first tasks convert while the rest of the
body is still arriving (docs/DESIGN.md "Uploads overlap conversion").

The parts are read one by one (gateway/multipart.py). As soon as the
options are known and valid and the first file is stored, the job is
created open (`create_job(open=True)`); later files go to it in growing
groups (`add_tasks`, `flush_now`), and the end of the body seals it with
the last group and the callback_url (`seal_job`). Anything that fails once
the job exists (a refused file, a client gone, any exception) abandons it:
its tasks cancelled, its files and records removed (`abandon_job`), as if it
had never been.

The client sees what the one-pass upload answered, only sooner: the same
202, and for a refused upload the same error, chosen by the same
precedence as when the whole form was parsed before anything was checked
(REFUSALS). So a refusal met part-way does not answer at once: the job is
abandoned at once, the rest of the body is read (not stored), and the
refusal that ranks first is raised at its end.
"""
import logging
import time

from convertix.errors import ConvertixError, QuotaExceeded
from gateway.multipart import Malformed, parts
from gateway.uploads import check_count, parse_callback_url, parse_options, store_upload, upload_name

log = logging.getLogger(__name__)

# What the one-pass upload checked, in its order (the first failing won):
# the options, the callback_url, the number of files, each file in body
# order, then the jobs service (quota, a broker down). A file too large for
# the parser, or a form past its limits, is raised where it is met, before
# any of these, as werkzeug's parser did.
REFUSALS = ("options", "callback_url", "count", "file", "service")

# The first file makes the job; then a group is sent when it is as large
# as what the job already has (1, 1, 2, 4, 8 ...: the converters get work
# at once, and a 50-file job costs 7 RPCs, not 50), at most GROUP_MAX
# files, or when its first file has waited GROUP_WAIT_S (a slow client's
# files still start soon).
GROUP_MAX = 16
GROUP_WAIT_S = 0.25


def flush_now(pending, added, waited_s):
    """Whether the `pending` stored files go to the job now (`added`: the
    files it has; `waited_s`: since the first pending one was stored)."""
    if not pending:
        return False
    if not added:
        return True
    return pending >= min(GROUP_MAX, added) or waited_s >= GROUP_WAIT_S


def first_refusal(refusals):
    """The error the client gets: the refusal that ranks first (REFUSALS), or None."""
    for kind in REFUSALS:
        if kind in refusals:
            return refusals[kind]
    return None


class StreamedUpload:
    """One multipart POST /jobs as its parts arrive. `rpc(method, *args,
    **kwargs)` calls the jobs service; `limits`: max_files, max_file_bytes."""

    def __init__(self, job_id, user_id, rpc, store, caps, limits, hashed, timeout_s):
        self.job_id, self.user_id, self.rpc, self.store = job_id, user_id, rpc, store
        self.caps, self.limits, self.hashed, self.timeout_s = caps, limits, hashed, timeout_s
        self.options = self.callback_url = None
        self.seen = {"options": False, "callback_url": False}
        self.count = 0           # file parts seen
        self.added = 0           # files the job has
        self.pending = []        # stored files not sent to the job yet
        self.pending_since = None
        self.created = False
        self.refusals = {}       # kind -> the first ConvertixError of that kind

    # --- the parts, in body order ------------------------------------------

    def take(self, part):
        if part.kind == "field":
            self._field(part.name, part.value)
        elif part.name == "file":
            self._file(part.value)

    def _field(self, name, value):
        if name not in self.seen or self.seen[name]:
            return  # the first of each counts, as request.form.get's
        self.seen[name] = True
        if name == "options":
            self._check("options", lambda: setattr(
                self, "options", parse_options(value, self.caps["output"])))
        else:
            self._check("callback_url", lambda: setattr(
                self, "callback_url", parse_callback_url(value)))
        self._send()

    def _file(self, upload):
        index = self.count
        self.count += 1
        if self.count > self.limits["max_files"]:
            self._check("count", lambda: check_count([None] * self.count,
                                                     self.limits["max_files"]))
        if self._outranked("file"):
            return  # its staged copy goes when the request ends (gateway/storage.py)
        path = self.store.input_path(self.job_id, index)
        stored = self._check("file", lambda: store_upload(
            upload, path, self.store, self.caps["input"], self.limits["max_file_bytes"],
            hashed=self.hashed))
        if stored is None:
            return
        fmt, size, sha256 = stored
        self.pending.append({"filename": upload_name(upload, fmt), "format": fmt,
                             "bytes": size, "sha256": sha256})
        if self.pending_since is None:
            self.pending_since = time.monotonic()
        self._send()

    # --- the job -----------------------------------------------------------

    def _send(self):
        """Hand the pending files to the job when it is time (never once refused)."""
        if self.refusals or self.options is None or not self.pending:
            return
        if not flush_now(len(self.pending), self.added,
                                      time.monotonic() - self.pending_since):
            return
        files, first = self.pending, self.added
        if not self.created:
            self._check("service", lambda: self.rpc(
                "create_job", self.job_id, self.user_id, self.options, files,
                deadline=self._deadline(), open=True))
            self.created = not self.refusals
        else:
            self._check("service", lambda: self.rpc(
                "add_tasks", self.job_id, self.user_id, files, first))
        if not self.refusals:
            self.added += len(files)
            self.pending, self.pending_since = [], None

    def finish(self):
        """The body has ended: the job document (sealed), or the refusal that ranks first."""
        if not self.seen["options"]:
            self._refuse("options", lambda: parse_options(None, self.caps["output"]))
        if not self.count:
            self._refuse("count", lambda: check_count([], self.limits["max_files"]))
        doc = None
        if not self.refusals:  # valid options and a stored file: the job exists (_send)
            doc = self._check("service", lambda: self.rpc(
                "seal_job", self.job_id, self.user_id, self.pending, self.added,
                callback_url=self.callback_url, deadline=self._deadline()))
        error = first_refusal(self.refusals)
        if error is not None:
            raise error
        return doc

    def malformed(self):
        """Not multipart werkzeug reads: it parsed an empty form, so no options (422)."""
        self.abandon()
        parse_options(None, self.caps["output"])  # raises

    def abandon(self):
        """Leave nothing behind: the job removed by the jobs service (if it
        got that far), the stored files by us either way. A failed abandon
        is left to the service's timer (JOBS.open_job_timeout_s)."""
        if self.created:
            self.created = False
            try:
                self.rpc("abandon_job", self.job_id, self.user_id)
            except Exception:
                log.warning("job %s: not abandoned now; the jobs service's timer will",
                            self.job_id, exc_info=True)
        self.store.delete_job(self.job_id)

    # --- refusals ----------------------------------------------------------

    def _deadline(self):
        # Past half our RPC timeout the service refuses rather than creates
        # (or seals) the job, so none exists that its client was told failed.
        return time.time() + self.timeout_s / 2

    def _outranked(self, kind):
        """A refusal is known that ranks before `kind` (or is `kind`): its checks are moot."""
        rank = REFUSALS.index(kind)
        return any(REFUSALS.index(k) <= rank for k in self.refusals)

    def _check(self, kind, check):
        """Run `check`; a refusal (a ConvertixError) is kept by its kind and
        abandons the job at once; what the check returned otherwise."""
        try:
            return check()
        except ConvertixError as exc:
            self._refused(kind, exc)
            return None

    def _refuse(self, kind, check):
        self._check(kind, check)

    def _refused(self, kind, exc):
        if isinstance(exc, QuotaExceeded):  # its byte counts crossed RPC as text (nameko)
            exc = QuotaExceeded(exc.message,
                                details={k: int(v) for k, v in exc.details.items()})
        first = not self.refusals
        self.refusals.setdefault(kind, exc)
        if first:
            self.abandon()


def streamed(request, upload):
    """Read `request`'s parts into `upload` (a StreamedUpload): its job document."""
    try:
        for part in parts(request):
            upload.take(part)
    except Malformed:
        upload.malformed()
        raise
    except BaseException:
        upload.abandon()
        raise
    try:
        return upload.finish()
    except BaseException:
        upload.abandon()
        raise
