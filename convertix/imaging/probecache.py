"""Start-up probes remembered on disk, per installation fingerprint.

`capabilities()` (encode and read back every format) and the ImageMagick
policy check (a child process that loads ImageMagick) cost seconds of CPU,
and every process that converts ran them: each converter replica, then each
of its sandbox children, every time one started. Their answers depend only
on what is installed and on our own code, so the first process computes and
writes the answer, and the others read it.

The fingerprint is computed without loading any image library (that is what
makes a hit cheap): Python's version and executable, every installed
distribution's name and version (the *.dist-info folders on sys.path),
Debian's package database (its size and mtime change with any apt install or
upgrade), the bytes of convertix/ (code and policy.xml) and the
MAGICK_* and LD_* environment. Anything else changes nothing the probes see.

The folder is the service user's own (0700, in the temporary directory);
one not owned by us, a symbolic link, or a file that others may write is not
trusted, and the probe runs instead. Writes are atomic (rename).
"""
import functools
import hashlib
import json
import os
import stat
import sys
import tempfile

CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # convertix/
DPKG_STATUS = "/var/lib/dpkg/status"
ENV_PREFIXES = ("MAGICK_", "LD_")
OURS = ("MAGICK_CONFIGURE_PATH",)  # magick.wand() always points it at our policy
VERSION = 1


def cache_dir():
    # a fixed place: the sandbox child starts with an empty environment
    return os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                        f"convertix-probes-{os.getuid()}")


def _distributions():
    names = set()
    for entry in sys.path:
        try:
            names.update(n for n in os.listdir(entry or ".") if n.endswith(".dist-info"))
        except OSError:
            pass
    return sorted(names)


def _our_files():
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(CODE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".xml")):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, CODE).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def fingerprint():
    try:
        dpkg = os.stat(DPKG_STATUS)
        dpkg = (dpkg.st_size, dpkg.st_mtime_ns)
    except OSError:
        dpkg = None
    parts = {
        "version": VERSION, "python": sys.version, "executable": sys.executable,
        "distributions": _distributions(), "dpkg": dpkg, "code": _our_files(),
        "env": sorted((k, v) for k, v in os.environ.items()
                      if k.startswith(ENV_PREFIXES) and k not in OURS),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _trusted_dir(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        try:
            os.mkdir(path, 0o700)
        except OSError:
            return False
        info = os.lstat(path)
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _read(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PermissionError(f"{path} is not ours alone")
        return json.loads(f.read())


def _write(folder, path, value):
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def remembered(name, compute, folder=None):
    """compute()'s JSON-able answer, read from the cache when this
    installation already computed it; computed (and stored) otherwise."""
    folder = folder or cache_dir()
    if not _trusted_dir(folder):
        return compute()
    path = os.path.join(folder, f"{name}-{fingerprint()}.json")
    try:
        return _read(path)["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not there yet, unreadable or not ours: compute
    value = compute()
    try:
        _write(folder, path, {"value": value})
    except OSError:
        pass  # a read-only /tmp: the answer is still right, only not remembered
    return value
