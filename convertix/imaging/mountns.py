"""The sandbox's own view of the filesystem, in its private mount namespace.

worker.py unshares the mount namespace (with the network one) at its start,
loads the engine (which still reads and writes the host's /tmp: the probe
cache), then calls seal() while still root. After seal(), in this namespace
only:

- every mount is read-only (`read_only`);
- /tmp and /dev/shm are a small tmpfs of its own each (`cover_and_rebind`):
  nothing it writes there is seen by, or fills, the host;
- the code the child runs stays readable whatever the install path's
  permissions (`cover_and_rebind` too): a 0700 folder above the project or
  the venv (as /root, or a Debian home, is) is covered by a read-only tmpfs
  holding nothing but those folders, bound back at the same paths, so the
  sandbox's own uid can still open what a library loads lazily (Wand's
  wand.sequence); code under /tmp is bound back over the private /tmp alike;
- /proc is a fresh instance with hidepid=invisible (`private_proc`): a
  process it cannot ptrace (every other one: it has a uid of its own and is
  not dumpable) has no /proc entry, so no other command line or environment.

Each step is tried on its own; what the kernel or a container refuses is
returned as a line for the ready frame's `degraded` list, and the rest still
applies. Not a PID namespace: the child's pids are the host's, but signals to
other processes are refused by seccomp and /proc shows none of them.
"""
import ctypes
import os

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
# The new mount API (Linux 5.2 and 5.12); the same numbers on every architecture.
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_RECURSIVE = 0x8000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1

# Each tmpfs's size: the decoders keep their pixels in memory (RLIMIT_AS);
# only ImageMagick spills a big pixel cache to /tmp, and a tmpfs is RAM
# outside RLIMIT_AS, so it stays small.
TMPFS_MB = 256
TMPFS_INODES = 4096
PRIVATE_TMP = ("/tmp", "/dev/shm")
TMPFS_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(rc, what):
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_private():
    """No mount or unmount here reaches the host's namespace (nor the reverse)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def blocked_ancestor(path):
    """The highest folder above `path` that others cannot enter (no o+x), or None."""
    parts = os.path.realpath(path).strip("/").split("/")
    for depth in range(1, len(parts)):
        folder = "/" + "/".join(parts[:depth])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def outermost(paths):
    """The given folders, real and deduplicated, less those inside another."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})
    return [p for p in real if not any(q != p and _under(p, q) for q in real)]


def plan(code, private=PRIVATE_TMP):
    """(covers, rebinds): the folders a tmpfs will cover (the private ones, and
    the highest folder others cannot enter above each code folder), and the
    code folders under a cover, to be bound back at the same path."""
    blocked = {blocked_ancestor(p) for p in code} - {None}
    wanted = set(private) | blocked
    covers = sorted(f for f in wanted if not any(g != f and _under(f, g) for g in wanted))
    rebinds = [p for p in code if any(_under(p, f) for f in covers)]
    return covers, rebinds


def cover_and_rebind(code_paths):
    """Private /tmp and /dev/shm, and the code bound back over any 0700 folder above it."""
    code = outermost(code_paths)
    covers, rebinds = plan(code, [t for t in PRIVATE_TMP if os.path.isdir(t)])
    trees, covered = {}, []
    try:
        for path in rebinds:  # detached copies of the mounts, taken before a cover hides them
            trees[path] = _check(_libc.syscall(
                SYS_OPEN_TREE, AT_FDCWD, path.encode(),
                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE), f"open_tree {path}")
        for folder in covers:
            if folder in PRIVATE_TMP:
                mount("tmpfs", folder, "tmpfs", TMPFS_FLAGS,
                      f"size={TMPFS_MB}m,nr_inodes={TMPFS_INODES},mode=1777")
            else:
                mount("tmpfs", folder, "tmpfs", TMPFS_FLAGS, "size=1m,nr_inodes=1024,mode=0755")
            covered.append(folder)
        for path, fd in trees.items():
            os.makedirs(path, mode=0o755, exist_ok=True)
            _check(_libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, path.encode(),
                                 MOVE_MOUNT_F_EMPTY_PATH), f"move_mount {path}")
        for folder in covers:
            if folder not in PRIVATE_TMP:  # only folders for the path to the code: no writes
                mount(None, folder, None, MS_REMOUNT | MS_BIND | MS_RDONLY | TMPFS_FLAGS)
    except OSError:
        for folder in reversed(covered):  # all or nothing: never code hidden under a cover
            _libc.umount2(folder.encode(), MNT_DETACH)
        raise
    finally:
        for fd in trees.values():
            os.close(fd)


def read_only():
    """Every mount in this namespace read-only (mount_setattr, else one by one)."""
    attr = _MountAttr(attr_set=MOUNT_ATTR_RDONLY)
    if _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE,
                     ctypes.byref(attr), ctypes.sizeof(attr)) == 0:
        return
    for target in _mount_points():
        try:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(target))
        except OSError:
            pass  # a mount this namespace may not change stays as it is


def _mount_points():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].encode().decode("unicode_escape") for line in f]


def _locked_flags(target):
    st = os.statvfs(target)
    return sum(flag for bit, flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                                      (os.ST_NOEXEC, MS_NOEXEC)) if st.f_flag & bit)


def private_proc():
    try:
        mount("proc", "/proc", "proc", TMPFS_FLAGS, "hidepid=invisible")
    except OSError:  # before Linux 5.8: the number form
        mount("proc", "/proc", "proc", TMPFS_FLAGS, "hidepid=2")


# (name, step, what is lost when the step is refused), in this order: the
# filesystem read-only first, so that the mounts added after it (the private
# /tmp and /dev/shm, /proc) are the only writable ones.
STEPS = (
    ("read-only view", lambda paths: read_only(), "the filesystem is as writable as for its uid"),
    ("private /tmp", cover_and_rebind,
     "/tmp and /dev/shm are the host's; the code is read through its install path"),
    ("private /proc", lambda paths: private_proc(), "/proc shows every process"),
)


def seal(code_paths):
    """The view above; returns the list of what could not be done."""
    degraded = []
    for name, step, lost in STEPS:
        try:
            step(code_paths)
        except OSError as exc:
            degraded.append(f"no {name} ({exc.strerror or exc}): {lost}")
    os.chdir("/")  # a working folder outside the view would be a way back to it
    return degraded
