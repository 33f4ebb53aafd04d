"""The shared folder that holds uploads and results.

Layout: `<root>/jobs/<job_id>/input/<index>` and
`<root>/jobs/<job_id>/output/<index>.<ext>`. Client file names never reach
the disk (they are kept in the database and sanitised for downloads), so no
name a client sends can escape the folder. Writes are atomic: a temporary
file in the same folder, fsync, then rename, so a reader sees a whole file
or none, also when a converter is killed half-way.
"""
import contextlib
import os
import re
import shutil
import tempfile

from convertix.errors import FileTooLarge

_JOB_ID = re.compile(r"[0-9a-f]{32}")


class Storage:
    def __init__(self, root):
        self.root = os.path.abspath(root)

    def job_dir(self, job_id):
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return os.path.join(self.root, "jobs", job_id)

    def input_path(self, job_id, index):
        return os.path.join(self.job_dir(job_id), "input", str(int(index)))

    def output_path(self, job_id, index, extension):
        if not re.fullmatch(r"[a-z0-9]{1,8}", extension or ""):
            raise ValueError(f"not an extension: {extension!r}")
        return os.path.join(self.job_dir(job_id), "output", f"{int(index)}.{extension}")

    def write(self, path, data):
        with _atomic(path) as handle:
            handle.write(data)
        return path

    def write_stream(self, path, first, stream, limit, chunk=2**20, digest=None):
        """Write `first` then the rest of `stream`, atomically; the byte count.

        Past `limit` bytes the partial file is removed and FileTooLarge raised,
        so an upload is bounded without ever being held in memory whole.
        `digest` (a hashlib object) is fed the same chunks: the file's hash
        without a second read of it.
        """
        total = 0
        with _atomic(path) as handle:
            while first:
                total += len(first)
                if total > limit:
                    raise FileTooLarge(f"larger than {limit} bytes", details={"max_bytes": limit})
                handle.write(first)
                if digest is not None:
                    digest.update(first)
                first = stream.read(chunk)
        return total

    def link(self, source, path):
        """Make `path` a second name of the file `source` (a hard link; a
        copy where the file system has none), atomically. Either name can
        then be removed without the other. FileNotFoundError if `source`
        has gone."""
        folder = os.path.dirname(path)
        private_dirs(folder)
        tmp = os.path.join(folder, f".tmp-link-{os.getpid()}-{os.path.basename(path)}")
        _remove(tmp)
        try:
            os.link(source, tmp)
        except FileNotFoundError:  # the source has gone: the caller's answer, not a copy
            raise
        except OSError:  # no hard links here (or across devices): a copy
            with open(source, "rb") as src, _atomic(path) as handle:
                shutil.copyfileobj(src, handle, 2**20)
            return path
        os.replace(tmp, path)
        return path

    def read(self, path):
        with open(path, "rb") as handle:
            return handle.read()

    def exists(self, path):
        return os.path.isfile(path)

    def delete_job(self, job_id):
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def delete(self, path):
        """Remove a file, and the folders it leaves empty inside the jobs folder."""
        _remove(path)
        jobs = os.path.join(self.root, "jobs")
        folder = os.path.dirname(os.path.abspath(path))
        while folder.startswith(jobs + os.sep):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or gone): stop here
                break
            folder = os.path.dirname(folder)


def private_dirs(folder):
    """makedirs, each folder it creates 0700: uploads and results are the service
    user's alone (not the sandbox's, not another local user's)."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for made in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(made, 0o700)


@contextlib.contextmanager
def _atomic(path):
    """A file handle whose content appears at `path` whole, or not at all."""
    folder = os.path.dirname(path)
    private_dirs(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name, fallback="image"):
    """A download name that is safe in a header and on any file system."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = _UNSAFE.sub("_", base).strip("._")[:120]
    return base or fallback


def result_filename(original, index, extension):
    stem = os.path.splitext(safe_filename(original))[0] or "image"
    return f"{stem}.{extension}"
