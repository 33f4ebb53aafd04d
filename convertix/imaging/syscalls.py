"""The system calls a confined sandbox may make: an allow list.

Found by running the whole corpus (tests/corpus: every file to PNG, one file
of each format to every output format, with resizing, quality and metadata)
through a sandbox whose filter logs instead of refusing
(scripts/trace-sandbox-syscalls.py), and under `strace -f`; every call made
after the filter was loaded is here, and a few of their neighbours that a
library update may switch to (statx for newfstatat, ppoll for poll, and so
on). What is not here gets EPERM (confine.install_seccomp): io_uring,
sockets, exec, namespaces, mounts, keyrings, bpf, ptrace, and whatever the
kernel adds next.

Names unknown on an architecture (open and stat on arm64) are skipped.
Calls allowed only with some arguments are in confine.install_seccomp.
"""

# (group, names): the group says why the engine needs them.
ALLOWED = (
    ("memory", ("brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore",
                "membarrier")),
    ("threads and waiting", ("futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
                             "set_tid_address", "exit", "exit_group", "sched_yield",
                             "sched_getaffinity", "sched_getparam", "sched_getscheduler",
                             "sched_get_priority_min", "sched_get_priority_max",
                             "nanosleep", "clock_nanosleep", "restart_syscall")),
    ("signals to itself", ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
                           "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait")),
    ("the pipe to its parent, files it opens", (
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
        "poll", "ppoll", "select", "pselect6", "eventfd2")),
    ("reading the filesystem (read-only but for its own /tmp)", (
        "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "statfs", "fstatfs",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64",
        "getcwd", "fadvise64", "flock")),
    ("ImageMagick's disk cache in its own /tmp", (
        "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
        "ftruncate", "fallocate", "fsync", "fdatasync", "umask", "memfd_create")),
    ("who and where it is", ("getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
                             "getegid", "getgroups", "getresuid", "getresgid", "uname",
                             "sysinfo", "getrandom", "arch_prctl")),
    ("time and its own resources", ("clock_gettime", "clock_getres", "gettimeofday", "time",
                                    "times", "getrusage", "getrlimit", "setrlimit",
                                    "getpriority", "setpriority")),
)

# Allowed only with these arguments (confine.install_seccomp adds the rules).
CLONE_THREAD = 0x00010000  # clone: a thread, never a process
PRCTL_OPTIONS = (
    3,           # PR_GET_DUMPABLE
    15, 16,      # PR_SET_NAME, PR_GET_NAME: libaom and glib name their threads
    21, 39,      # PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS
    0x53564D41,  # PR_SET_VMA: glibc names its mappings
)
IOCTL_REQUESTS = (
    0x5401,          # TCGETS: isatty()
    0x5413,          # TIOCGWINSZ
    0x541B,          # FIONREAD
    0x5421,          # FIONBIO
    0x5450, 0x5451,  # FIONCLEX, FIOCLEX
)
# clone3 passes its flags in memory a filter cannot read: "not implemented",
# and glibc falls back to clone.
NOT_IMPLEMENTED = ("clone3",)


def allowed_names():
    return tuple(name for _, names in ALLOWED for name in names)
