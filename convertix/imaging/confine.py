"""What the sandbox child gives up before it reads a hostile byte.

A decoder exploit (libtiff, libheif, ImageMagick, cairo) runs with whatever
the child has. So the child (worker.py) starts with an empty environment
(sandbox.py builds it) and, in this order:

1. its own network namespace (unshare CLONE_NEWNET: only a loopback that is
   down, so no socket reaches anything) and mount namespace (CLONE_NEWNS,
   sealed by mountns.seal once the engine is loaded: read-only, its own /tmp
   and /dev/shm, a /proc without other processes), done while still root;
2. a separate unprivileged user (by default one of its own, DYNAMIC_USER;
   CONVERTER.sandbox_user), no supplementary groups: storage, the database, the logs and .secrets/ are
   0600/0700 and owned by the service's user, and /proc/<parent>/environ is
   the parent's alone; not dumpable, so another sandbox running as the same
   user cannot ptrace it or read its memory;
3. PR_SET_PDEATHSIG (dies with its parent) and PR_SET_NO_NEW_PRIVS;
4. after the ImageMagick policy probe (which runs a child of its own) and
   once the engine is loaded: RLIMIT_AS, RLIMIT_NPROC (no process or thread more), RLIMIT_NOFILE,
   RLIMIT_FSIZE (writes past it fail with EFBIG, SIGXFSZ ignored),
   RLIMIT_CORE=0, and RLIMIT_CPU per conversion (cpu_limit); nice 10;
5. a seccomp filter (pyseccomp over libseccomp), an allow list (syscalls.py):
   files, memory, threads (clone with CLONE_THREAD only), time, signals to
   itself; everything else (sockets, io_uring, exec, fork, ptrace, namespaces,
   mounts, keyrings, bpf, modules) fails with EPERM.

Step 1 comes first, step 2 only once the engine is loaded (see become()).
Not root (a developer's shell): the child tries an unprivileged user
namespace for step 1 and stays the same user (the environment is still
empty, steps 3-5 still apply), and says what it could not do in its ready
frame; the parent logs it once per sandbox.
"""
import ctypes
import errno
import os
import pwd
import resource
import signal

from . import mountns, syscalls

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
SANDBOX_NICE = 10  # CPU priority this much below its parent's (limit_resources)

# A user of its own for each sandbox: uid (and gid) DYNAMIC_ID_BASE + its pid,
# in no passwd file (as systemd's DynamicUser), unique among live processes;
# so no two sandboxes share a uid, and RLIMIT_NPROC counts one sandbox. Or a
# user's name (e.g. nobody: then all sandboxes share the thread budget), or
# SELF_USER (or "") to stay the parent's user.
DYNAMIC_USER = "dynamic"
SELF_USER = "self"
DYNAMIC_ID_BASE = 2_000_000_000
FALLBACK_USER = "nobody"  # where a dynamic uid cannot be had (a user-namespaced container)
# The DEFAULT_ values below (but threads) mirror CONVERTER's in
# infra/config/schema.py, for a sandbox started without config; a test
# (tests/unit/test_config_defaults.py) holds them equal.
DEFAULT_USER = DYNAMIC_USER
DEFAULT_MEMORY_MB = 2048  # the address space of a sandbox
# Tasks (the process and its threads) a sandbox may have.
DEFAULT_MAX_THREADS = 8
# Generous for what a conversion needs (stdin, stdout, stderr, a library or
# font file at a time), small for anything that would scan the filesystem.
DEFAULT_MAX_OPEN_FILES = 64
# ImageMagick's policy lets its pixel cache spill 1 GiB to disk; no more.
DEFAULT_MAX_FILE_MB = 1024
# Seconds of CPU beyond the conversion timeout before the kernel stops a
# runaway (the parent's wall-clock deadline normally comes first).
CPU_GRACE_S = 5

# What a sandbox without its mount namespace (Docker's default profile
# refuses unshare) keeps of the host's view, said in its degraded list.
NO_MOUNT_NS = ("/tmp and /dev/shm are the host's, /proc shows every process, "
               "the filesystem is as writable as for its uid")

_libc = ctypes.CDLL(None, use_errno=True)

# Loaded with this module, at the child's start: pyseccomp finds libseccomp
# by running ldconfig, which no longer works once processes are refused.
try:
    import pyseccomp as seccomp
    _NO_SECCOMP = None
except (ImportError, OSError, RuntimeError) as exc:  # not installed, libseccomp2 missing
    seccomp, _NO_SECCOMP = None, f"{type(exc).__name__}: {exc}"


def _call(name, *args):
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _prctl(option, value):
    _call("prctl", ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0),
          ctypes.c_ulong(0), ctypes.c_ulong(0))


def enter_namespaces():
    """Step 1; returns (what could not be done, whether the mount namespace is ours).

    The mount namespace is private at once (nothing mounted here reaches the
    host), but the view is sealed only once the engine is loaded
    (mountns.seal), since loading still reads and writes the host's /tmp.
    """
    userns = 0 if os.geteuid() == 0 else CLONE_NEWUSER
    try:
        _call("unshare", ctypes.c_int(userns | CLONE_NEWNET | CLONE_NEWNS))
    except OSError as both:  # e.g. a container without CAP_SYS_ADMIN, userns disabled
        try:
            _call("unshare", ctypes.c_int(userns | CLONE_NEWNET))
        except OSError as exc:
            return [f"no network namespace ({exc.strerror})",
                    f"no mount namespace ({both.strerror}): {NO_MOUNT_NS}"], False
        return [f"no mount namespace ({both.strerror}): {NO_MOUNT_NS}"], False
    try:
        mountns.make_private()
    except OSError as exc:
        return [f"no private mount namespace ({exc.strerror}): {NO_MOUNT_NS}"], False
    return [], True


def _set_ids(uid, gid):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _switch_user(user):
    if user == DYNAMIC_USER:
        uid = DYNAMIC_ID_BASE + os.getpid()
        try:
            _set_ids(uid, uid)
            return []
        except OSError as exc:
            user, why = FALLBACK_USER, f"no uid of its own ({exc.strerror}): runs as {FALLBACK_USER}"
    else:
        why = None
    try:
        entry = pwd.getpwnam(user)
        _set_ids(entry.pw_uid, entry.pw_gid)
    except (KeyError, OSError) as exc:
        return [f"still root: cannot become {user!r} ({exc})"]
    return [why] if why else []


def become(user=DEFAULT_USER):
    """Steps 2-3; returns the list of what could not be done.

    Called once the engine is loaded: the interpreter may live where only
    root can read (pyenv under a mode-700 /root), so everything the child
    will run is imported first, as with privilege separation in OpenSSH.
    """
    degraded = []
    if not user or user == SELF_USER:
        degraded.append("runs as its parent's user (sandbox_user: self)")
    elif os.geteuid() != 0:
        degraded.append(f"not root: runs as uid {os.getuid()}, not {user!r}")
    else:
        degraded += _switch_user(user)
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    return degraded


def _set(limit, soft, hard=None):
    resource.setrlimit(limit, (soft, soft if hard is None else hard))


def limit_resources(memory_mb, max_file_mb=DEFAULT_MAX_FILE_MB,
                    max_open_files=DEFAULT_MAX_OPEN_FILES, max_threads=DEFAULT_MAX_THREADS,
                    own_user=True):
    """Step 4, except the per-conversion CPU limit (cpu_limit).

    `own_user`: False when the child still runs as its parent's user (not
    root, e.g. uid 1000 in a container): RLIMIT_NPROC would then count the
    parent's threads and every other sandbox too, and starve the engine's own
    threads (libheif failed so), so threads are left unbounded and said so.
    """
    degraded = []
    # Image work yields the CPU to the services' own (heartbeats, events,
    # HTTP): when every core converts, another user's request is still
    # handled at once, and only its conversion shares a core.
    os.nice(SANDBOX_NICE)
    if memory_mb:
        _set(resource.RLIMIT_AS, memory_mb * 2**20)
    _set(resource.RLIMIT_CORE, 0)
    _set(resource.RLIMIT_NOFILE, max_open_files)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG to the writer, not a dead child
    _set(resource.RLIMIT_FSIZE, max_file_mb * 2**20)
    # Counted per user, threads and this process included: with a user of its
    # own (DYNAMIC_USER) this counts this sandbox alone. Processes are refused
    # by seccomp; this bounds threads (libaom's AVIF encoder needs one).
    if own_user:
        _set(resource.RLIMIT_NPROC, max_threads)
    else:
        degraded.append("threads unbounded: RLIMIT_NPROC would count the parent's user")
    return degraded


def cpu_limit(seconds):
    """Let this conversion use `seconds` (+ CPU_GRACE_S) of CPU from now on, then SIGXCPU.

    RLIMIT_CPU counts the process's whole life, so the soft limit moves
    forward before each conversion; the hard limit stays where it was, so
    a subverted child could move the soft one too: the parent's wall-clock
    deadline (SIGKILL) is the binding bound, this one stops a runaway whose
    parent is gone or stuck.
    """
    used = resource.getrusage(resource.RUSAGE_SELF)
    now = int(used.ru_utime + used.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = now + int(seconds) + CPU_GRACE_S
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def install_seccomp(log_only=False):
    """Step 5; returns the list of what could not be done.

    An allow list (syscalls.py): anything else fails with EPERM, which the
    engine reports as an error (a PermissionError, the image's error code),
    not a dead child, so a call a new library version needs shows up as
    failing conversions with "Operation not permitted", and the list grows.
    `log_only`: allow everything, but have the kernel log each call the list
    would refuse (scripts/trace-sandbox-syscalls.py reads them back).
    """
    if seccomp is None:
        return [f"no seccomp filter ({_NO_SECCOMP})"]
    allow = seccomp.ALLOW
    flt = seccomp.SyscallFilter(defaction=seccomp.LOG if log_only else seccomp.ERRNO(errno.EPERM))
    # Every thread, also one a library started while the engine loaded.
    flt.set_attr(seccomp.Attr.CTL_TSYNC, 1)
    for name in syscalls.allowed_names():
        try:
            flt.add_rule(allow, name)
        except (OSError, RuntimeError, ValueError):
            pass  # not a syscall on this architecture (e.g. open on arm64)
    for name in syscalls.NOT_IMPLEMENTED:
        flt.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    flt.add_rule(allow, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, syscalls.CLONE_THREAD,
                                             syscalls.CLONE_THREAD))
    # Signals to itself only (abort() raises SIGABRT with tgkill); limits of its own.
    me = os.getpid()
    flt.add_rule(allow, "kill", seccomp.Arg(0, seccomp.EQ, me))
    flt.add_rule(allow, "tgkill", seccomp.Arg(0, seccomp.EQ, me))
    flt.add_rule(allow, "prlimit64", seccomp.Arg(0, seccomp.EQ, 0))
    for option in syscalls.PRCTL_OPTIONS:
        flt.add_rule(allow, "prctl", seccomp.Arg(0, seccomp.EQ, option))
    for request in syscalls.IOCTL_REQUESTS:
        flt.add_rule(allow, "ioctl", seccomp.Arg(1, seccomp.EQ, request))
    flt.load()
    return []
