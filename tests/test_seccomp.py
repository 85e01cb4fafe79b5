"""The seccomp filter every confined kernel runs under (`grader.run.seccomp`): what it refuses, inside a kernel."""

from __future__ import annotations

import json

import pytest

from grader.run.seccomp import ALLOWED, kernel_filter
from tests.test_runner import kernels, notebook, runner  # noqa: F401 (kernels: a fixture)

pytestmark = pytest.mark.notebooks

# x86_64 numbers and the arguments tried: each is refused with EPERM (clone3: ENOSYS, so that the C library falls
# back to clone, whose flags the filter can read).
CALLS = {
    "ptrace": (101, 16, 1),  # PTRACE_ATTACH to pid 1 (the sandbox's init, or the host's)
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0),
    "process_vm_writev": (311, 1, 0, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "keyctl": (250, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "request_key": (249, 0, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "kexec_file_load": (320, 0, 0, 0, 0, 0),
    "init_module": (175, 0, 0, 0),
    "finit_module": (313, 0, 0, 0),
    "delete_module": (176, 0, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0),
    "pivot_root": (155, 0, 0),
    "chroot": (161, 0),
    "unshare(CLONE_NEWUSER)": (272, 0x10000000),
    "unshare(CLONE_NEWNS)": (272, 0x20000),
    "unshare(CLONE_FILES)": (272, 0x400),
    "setns": (308, 0, 0),
    "clone(CLONE_NEWUSER)": (56, 0x10000000 | 17, 0, 0, 0, 0),
    "clone(CLONE_NEWNET)": (56, 0x40000000 | 17, 0, 0, 0, 0),
    "clone3": (435, 0, 0),
    "open_by_handle_at": (304, 0, 0, 0),
    "personality(ADDR_NO_RANDOMIZE)": (135, 0x0040000),
    "personality(READ_IMPLIES_EXEC)": (135, 0x0400000),
    "io_uring_setup": (425, 1, 0),
    "socket(AF_VSOCK)": (41, 40, 1, 0),
    "fsopen": (430, 0, 0),
    "move_mount": (429, 0, 0, 0, 0, 0),
    "open_tree": (428, 0, 0, 0),
    "reboot": (169, 0, 0, 0, 0),
    "swapon": (167, 0, 0),
    "settimeofday": (164, 0, 0),
    "clock_settime": (227, 0, 0),
    "syslog": (103, 3, 0, 0),
    "acct": (163, 0),
    "quotactl": (179, 0, 0, 0, 0),
    "iopl": (172, 3),
    "ioperm": (173, 0, 1, 1),
    "sethostname": (170, 0, 0),
    "kcmp": (312, 1, 1, 0, 0, 0),
    "pidfd_getfd": (438, 0, 0, 0),
    "lookup_dcookie": (212, 0, 0, 0),
    "mbind": (237, 0, 0, 0, 0, 0, 0),
}
EXPECTED = {name: "ENOSYS" if name == "clone3" else "EPERM" for name in CALLS}

TRY_EACH = f"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
answers = {{}}
for name, (number, *args) in {CALLS!r}.items():
    ctypes.set_errno(0)
    result = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    answers[name] = errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if result == -1 else f"returned {{result}}"
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({{"calls": answers, "seccomp": status["Seccomp"].strip()}}))
"""
# What a notebook does all the time keeps working under the filter: threads, processes, files, sockets.
EVERYDAY = """
import os, socket, subprocess, threading, torch
done = []
thread = threading.Thread(target=lambda: done.append(torch.ones(4).sum().item())); thread.start(); thread.join()
child = os.fork()
if child == 0:
    os._exit(7)
_, status = os.waitpid(child, 0)
with open("made.txt", "w") as handle:
    handle.write("x")
pair = socket.socketpair(); pair[0].send(b"ok")
print(done, os.waitstatus_to_exitcode(status), subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout.strip(),
      os.path.getsize("made.txt"), pair[1].recv(2), os.uname().sysname, os.sched_getaffinity(0) != set())
"""


def test_the_filter_allows_what_it_lists_and_is_one_bpf_program():
    program = kernel_filter()
    assert len(program) % 8 == 0 and 100 < len(program) // 8 < 4096
    assert not {"ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "bpf", "mount", "unshare",
                "setns", "keyctl", "userfaultfd", "perf_event_open", "personality", "clone", "clone3",
                "socket"} & set(ALLOWED)


@pytest.mark.parametrize("kernels", ["sandboxed-cold", "sandboxed-warm", "uid-cold", "uid-warm"], indirect=True)
def test_each_denied_call_is_refused_inside_a_kernel_and_everyday_calls_work(tmp_path, kernels):  # noqa: F811
    sandbox, warm = kernels
    nb, path = notebook(tmp_path, TRY_EACH, EVERYDAY)
    execution = runner(tmp_path, sandbox, warm=warm).run(nb, path)
    assert [cell.status for cell in execution.cells] == ["ok", "ok"], execution.cells
    seen = json.loads(execution.notebook.cells[1].outputs[0]["text"])
    assert seen["calls"] == EXPECTED
    assert seen["seccomp"] == "2"  # filter mode
    assert execution.notebook.cells[2].outputs[0]["text"] == "[4.0] 7 hi 1 b'ok' Linux True\n"
