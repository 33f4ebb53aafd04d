"""The pure parts of the sandbox's boundaries: which folders its mount view
covers and binds back (mountns.plan), and what the seccomp allow list never
holds (syscalls.py)."""
import os

import pytest

from convertix.imaging import mountns, syscalls

# Calls that would undo a boundary: none may ever be on the allow list.
NEVER = ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto",
         "sendmsg", "recvmsg", "io_uring_setup", "io_uring_enter", "io_uring_register",
         "execve", "execveat", "fork", "vfork", "clone3", "ptrace", "process_vm_readv",
         "process_vm_writev", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
         "open_tree", "move_mount", "fsopen", "mount_setattr", "keyctl", "add_key",
         "request_key", "bpf", "perf_event_open", "userfaultfd", "init_module", "finit_module",
         "delete_module", "kexec_load", "reboot", "swapon", "swapoff", "setuid", "setgid",
         "setreuid", "setresuid", "setgroups", "capset", "seccomp", "personality", "tkill",
         "kill", "tgkill", "prctl", "ioctl", "clone", "prlimit64", "chmod", "fchmod", "chown",
         "fchown", "link", "symlink", "mknod", "pidfd_open", "pidfd_getfd")


@pytest.mark.parametrize("name", NEVER)
def test_never_on_the_allow_list(name):
    # (the last ones are allowed only with checked arguments, in confine.install_seccomp)
    assert name not in syscalls.allowed_names()


def test_allow_list_has_no_duplicates():
    names = syscalls.allowed_names()
    assert len(names) == len(set(names))


@pytest.fixture
def tree():
    """tmp/open/code (0755 all the way), tmp/private (0700)/{code,venv/lib}.

    Not pytest's tmp_path: that lies under a 0700 folder of its own."""
    import pathlib
    import shutil
    import tempfile
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="convertix-view-", dir="/tmp"))
    for folder in ("open/code", "private/code", "private/venv/lib"):
        os.makedirs(tmp_path / folder)
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "private", 0o700)
    yield tmp_path
    shutil.rmtree(tmp_path)


def test_plan_covers_a_private_folder_and_binds_back_what_is_needed(tree):
    code = mountns.outermost([tree / "open/code", tree / "private/code", tree / "private/venv",
                              tree / "private/venv/lib", tree / "missing"])
    assert code == sorted(str(tree / p) for p in ("open/code", "private/code", "private/venv"))
    covers, rebinds = mountns.plan(code, private=())
    assert covers == [str(tree / "private")]
    assert rebinds == [str(tree / "private/code"), str(tree / "private/venv")]


def test_plan_rebinds_code_under_a_private_tmp_even_when_open(tree):
    code = [str(tree / "open/code")]
    covers, rebinds = mountns.plan(code, private=(str(tree),))
    assert (covers, rebinds) == ([str(tree)], code)


def test_plan_takes_the_outermost_cover(tree):
    # the private /tmp above a 0700 folder: one cover, the tmpfs; the folder is made again 0755
    code = [str(tree / "private/code")]
    covers, rebinds = mountns.plan(code, private=(str(tree),))
    assert (covers, rebinds) == ([str(tree)], code)


def test_plan_leaves_open_paths_alone(tree):
    assert mountns.plan([str(tree / "open/code")], private=()) == ([], [])
    assert mountns.blocked_ancestor(tree / "private/venv/lib") == str(tree / "private")
    assert mountns.blocked_ancestor(tree / "private") is None  # itself 0700: not for a view to fix
