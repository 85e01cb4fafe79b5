"""Load a seccomp filter (a classic BPF program the grader compiled) into this process, for good.

Used by the fork server in each warm kernel, and as `python -m grader.probe.syscall_filter --fd N -- ARGV…`
in front of a cold kernel confined by uid alone (bubblewrap loads it itself into a sandboxed cold kernel).
no_new_privs must be set first, as the kernel requires of an unprivileged process.

Kernel-side code: imports nothing from the rest of ``grader``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
INSTRUCTION_BYTES = 8  # struct sock_filter

_libc = ctypes.CDLL(None, use_errno=True)


class _Program(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Every later system call of this thread, and of what it starts, passes the filter."""
    if not program or len(program) % INSTRUCTION_BYTES or len(program) // INSTRUCTION_BYTES > 0xFFFF:
        raise ValueError(f"a seccomp program of {len(program)} bytes is not a whole BPF program")
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _Program(len(program) // INSTRUCTION_BYTES, ctypes.addressof(code))
    if _libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                   ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"the kernel refused the seccomp filter: {os.strerror(number)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="Read the program from this descriptor, then close it.")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- and the command to run under the filter")
    args = parser.parse_args()
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("no command to run")
    with os.fdopen(args.fd, "rb") as source:
        program = source.read()
    try:
        install(program)
    except (OSError, ValueError) as err:
        sys.exit(f"grader: {err}")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
