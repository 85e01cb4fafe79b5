"""The system calls a kernel may make: a seccomp filter compiled once per run by the system's libseccomp.

Modelled on the default profile of container runtimes (moby's profiles/seccomp/default.json, the one Docker and
the NVIDIA container toolkit run CUDA and PyTorch under), as it applies to a process without capabilities: an
allow-list, and EPERM for everything else. Stricter than that profile where a notebook has no use for a call:
`ptrace` and `process_vm_readv`/`process_vm_writev` (reading another process's memory), and io_uring, whose
operations bypass seccomp. Namespaces are closed twice: `clone` only without namespace flags, `unshare` and
`setns` not at all. `clone3` answers ENOSYS (its flags sit in memory a filter cannot read), so that the C
library falls back to `clone`. Calls of other ABIs (32-bit, x32) kill the process.

Bubblewrap loads the program into a cold kernel (`--seccomp`); the fork server loads the same bytes into each
warm kernel (`grader.probe.forkserver`), and `grader.probe.syscall_filter` into a kernel confined by uid alone.
"""

from __future__ import annotations

import errno
import functools
import tempfile

__all__ = ["ALLOWED", "SeccompUnavailable", "kernel_filter"]

ALLOWED = (
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "clock_adjtime", "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp",
    "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link",
    "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2",
    "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsuid", "setgid", "setgroups",
    "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "socketpair", "splice", "stat",
    "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
    "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
    "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
)
AF_VSOCK = 40  # sockets to the hypervisor: the network namespace does not cover them
# What `personality` may be asked: Linux, its 32-bit and uname-2.6 variants, and the query (0xffffffff);
# never ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC, which undo address randomisation and no-execute pages.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET


class SeccompUnavailable(Exception):
    """libseccomp (the system library) is missing or refuses the filter."""


@functools.cache
def kernel_filter() -> bytes:
    """The filter as a classic BPF program (what `bwrap --seccomp` and `prctl(PR_SET_SECCOMP)` load)."""
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]
    except (ImportError, RuntimeError) as err:  # RuntimeError: pyseccomp found no libseccomp.so
        raise SeccompUnavailable(f"the kernels' seccomp filter needs libseccomp ({err}): "
                                 "`apt-get install libseccomp2`, `pip install pyseccomp`") from None
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    try:
        # A binary search over the syscall numbers, not ~300 comparisons in a row on every call.
        rules.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
        for name in ALLOWED:
            rules.add_rule(seccomp.ALLOW, name)
        rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.NE, AF_VSOCK))
        for persona in PERSONALITIES:
            rules.add_rule(seccomp.ALLOW, "personality", seccomp.Arg(0, seccomp.EQ, persona))
        rules.add_rule(seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0))
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except OSError as err:
        raise SeccompUnavailable(f"libseccomp refused the kernels' filter: {err}") from None
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        return program.read()
