"""Warm kernels: import the exam's libraries once, then fork a fresh kernel per submission.

The grader starts this server once per grading run, on the host, with the
grader's privileges. It imports the preload list (torch, fastai, ipykernel:
seconds and a gigabyte that a cold kernel pays every time) and then only
forks; it never runs student code itself, so every kernel starts from the
same untouched state and whatever a kernel changes (globals, monkeypatched
modules, files) dies with it.

For a sandboxed kernel the grader first starts the sandbox itself (bubblewrap
running a holder process: namespaces, mounts, cgroups, its own uid). The fork
then *joins* that sandbox, exactly where a cold kernel would run:

    fork, into the holder's pid namespace (a launcher)
      -> joins the kernel's cgroups, sets its rlimits
      -> enters the holder's cgroup, ipc, uts, net and mount namespaces (still root)
      -> becomes the sandbox's host uid (no groups; capabilities cleared)
      -> enters the holder's user namespace, in which nested ones are disabled,
         drops every capability there too, sets no_new_privs, loads the seccomp filter
      -> forks the kernel and exits, so that the kernel's parent is the sandbox's init;
         the kernel starts ipykernel with the probe.

For a kernel confined by uid alone (no namespaces: `grader.run.uid_confinement`) the
launcher joins the kernel's cgroups (where there are any), sets its rlimits, empties its
capability bounding set while still root, becomes the kernel's uid (no groups), clears its
remaining capabilities, sets no_new_privs and loads the seccomp filter; it stays the kernel's parent, as
without a sandbox. The filter (`grader.run.seccomp`) comes with each request, as base64 BPF.

CUDA is never initialised here before a fork (a forked CUDA context is
unusable); the server refuses to call itself warm for GPUs if a preload did.

Protocol, over a SOCK_SEQPACKET socket inherited as a file descriptor: the
grader sends one JSON request with the kernel's stdin, stdout and stderr as
file descriptors; the server answers {"pid": host pid of the kernel}, or for a
sandboxed kernel {"sandbox_pid": its pid in the sandbox's pid namespace}, or {"error": reason}.
The first message, unasked, is {"ready": …}. A request holds "sandbox" (join that sandbox),
"confine" (uid confinement) or neither (`--no-sandbox`), whichever `--kernels` named at start: the
server forks only kernels confined that way, and `parse_request` refuses any request that is not
exactly of that shape before anything is forked.

Once the preloads are imported, a root server keeps only the capabilities its forks need
(`KEPT_CAPABILITIES`) in every set, the bounding set too, and sets no_new_privs.

Kernel-side code: imports nothing from the rest of ``grader``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import ctypes
import importlib
import json
import os
import resource
import signal
import socket
import sys
import traceback
from time import monotonic

from grader.probe.syscall_filter import install as install_filter

# Joined by the launcher while still root; the user namespace comes last, after the uid is dropped.
# (The pid namespace is the server's to set: the launcher is born in it.)
NAMESPACES = ("cgroup", "ipc", "uts", "net", "mnt")
MAX_MESSAGE = 1 << 20
# What every kernel imports as it starts (the debugger alone takes ~0.1 s), so that forks find them loaded.
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "ipykernel_launcher",
                  "IPython.core.completerlib", "IPython.extensions.storemagic", "grader.probe.recorder",
                  "grader.probe.vision")
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_PDEATHSIG = 1
CAPABILITY_VERSION_3 = 0x20080522
CAP_DAC_OVERRIDE, CAP_SETGID, CAP_SETUID, CAP_SETPCAP = 1, 6, 7, 8
CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYS_RESOURCE = 18, 19, 21, 24
# What a launcher does as root before it becomes the kernel's uid: enter the kernel's cgroups (DAC_OVERRIDE: the
# cgroup files are root's, the server's fsuid may not be), set its rlimits (SYS_RESOURCE, for limits above the
# server's own), open the holder's namespaces (SYS_PTRACE: another uid's /proc files) and enter them (SYS_ADMIN;
# SYS_CHROOT too for the mount namespace),
# change uid and groups, and, confined by uid alone, empty the bounding set (SETPCAP).
KEPT_CAPABILITIES = {
    "sandbox": (CAP_DAC_OVERRIDE, CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_SYS_ADMIN,
                CAP_SYS_RESOURCE),
    "uid": (CAP_DAC_OVERRIDE, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_SYS_RESOURCE),
}
KERNEL_CONFINEMENTS = ("sandbox", "uid", "none")
REQUEST_KEYS = {"env", "cwd", "argv"}
CONFINEMENT_KEYS = {"sandbox": {"holder_pid", "host_uid", "cgroup_procs", "rlimits", "seccomp"},
                    "confine": {"host_uid", "cgroup_procs", "rlimits", "seccomp"}}
RLIMITS = {"RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NPROC"}


class RequestError(ValueError):
    """A request the server will not act on: it answers the reason and forks nothing."""

_libc = ctypes.CDLL(None, use_errno=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket-fd", type=int, required=True)
    parser.add_argument("--preload", default="", help="Comma-separated modules to import before forking.")
    parser.add_argument("--kernels", choices=KERNEL_CONFINEMENTS, required=True,
                        help="How every kernel it forks is confined; requests for any other are refused.")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle; it closes our socket
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # launchers are reaped by the kernel as they exit
    channel = socket.socket(fileno=args.socket_fd)
    started = monotonic()
    failed = {}
    for module in filter(None, args.preload.split(",")):
        try:
            importlib.import_module(module)
        except Exception as err:  # a module that fails here is imported cold by the kernel, and fails there
            failed[module] = f"{type(err).__name__}: {err}"
    for module in KERNEL_MODULES:
        importlib.import_module(module)
    if os.geteuid() == 0 and args.kernels in KEPT_CAPABILITIES:
        _keep_only(KEPT_CAPABILITIES[args.kernels])
    channel.send(json.dumps({
        "ready": True, "seconds": round(monotonic() - started, 3), "failed": failed,
        "cuda_initialised": _cuda_initialised(),
    }).encode())
    serve(channel, args.kernels, path_entry=sys.path[0])
    # The run is over and the server holds nothing to save: tearing down what it imported (torch, fastai) on a
    # normal exit would cost the grader two more seconds of waiting, in every run.
    sys.stderr.flush()
    os._exit(0)


def serve(channel: socket.socket, kernels: str, path_entry: str) -> None:
    own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY)  # returned to after each sandboxed fork
    while True:
        try:
            message, fds, flags, _ = socket.recv_fds(channel, MAX_MESSAGE, 3)
        except ConnectionError:
            return
        if not message and not fds:  # the grader closed its end: the run is over
            return
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise RequestError(f"a request over {MAX_MESSAGE} bytes or 3 descriptors")
            if len(fds) != 3:
                raise RequestError(f"expected the kernel's stdin, stdout and stderr, got {len(fds)} descriptor(s)")
            reply = _spawn(parse_request(message, kernels), fds, channel, path_entry, own_pid_namespace)
        except RequestError as err:
            reply = {"error": str(err)}
        except Exception as err:
            reply = {"error": f"{type(err).__name__}: {err}"}
        finally:
            for fd in fds:
                os.close(fd)
        channel.send(json.dumps(reply).encode())


def parse_request(message: bytes, kernels: str) -> dict:
    """The request, if it is exactly what the grader sends for a kernel confined as `kernels` says; else
    RequestError. Nothing in it is trusted to be of the right type until this returns."""
    try:
        request = json.loads(message.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise RequestError(f"not a JSON request ({err})") from None
    confinement = {"sandbox": "sandbox", "uid": "confine"}.get(kernels)
    expected = REQUEST_KEYS | ({confinement} if confinement else set())
    if not isinstance(request, dict) or set(request) != expected:
        raise RequestError(f"a request for this server has exactly the keys {sorted(expected)}")
    _check(isinstance(request["env"], dict) and all(isinstance(key, str) and isinstance(value, str)
                                                    for key, value in request["env"].items()), "env")
    _check(_is_text(request["cwd"]) and request["cwd"].startswith("/"), "cwd")
    _check(isinstance(request["argv"], list) and all(map(_is_text, request["argv"])), "argv")
    if confinement:
        _check_confinement(request[confinement], confinement)
    return request


def _check_confinement(spec: object, name: str) -> None:
    _check(isinstance(spec, dict) and set(spec) == CONFINEMENT_KEYS[name], name)
    assert isinstance(spec, dict)
    if name == "sandbox":
        _check(_is_int(spec["holder_pid"]) and spec["holder_pid"] > 1, "holder_pid")
    _check(_is_int(spec["host_uid"]) and spec["host_uid"] > 0, "host_uid")  # never root
    _check(isinstance(spec["cgroup_procs"], list) and all(
        _is_text(path) and path.startswith("/sys/fs/cgroup/") and path.endswith("/cgroup.procs") and ".." not in path
        for path in spec["cgroup_procs"]), "cgroup_procs")
    _check(isinstance(spec["rlimits"], dict) and set(spec["rlimits"]) <= RLIMITS and all(
        _is_int(value) and value >= 0 for value in spec["rlimits"].values()), "rlimits")
    _check(isinstance(spec["seccomp"], str) and spec["seccomp"] != "", "seccomp")
    try:
        base64.b64decode(spec["seccomp"], validate=True)
    except ValueError:
        raise RequestError("seccomp is not base64") from None


def _check(valid: bool, field: str) -> None:
    if not valid:
        raise RequestError(f"the request's {field} is not what the grader sends")


def _is_text(value: object) -> bool:
    return isinstance(value, str) and "\0" not in value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _spawn(request: dict, fds: list[int], channel: socket.socket, path_entry: str, own_pid_namespace: int) -> dict:
    server = os.getpid()
    sandbox = request.get("sandbox")
    spaces = _sandbox_namespaces(int(sandbox["holder_pid"])) if sandbox else {}
    report_read, report_write = os.pipe()
    if sandbox:
        _setns(spaces["pid"])  # only the server's children are born there: the launcher
    try:
        launcher = os.fork()
    finally:
        if sandbox and os.getpid() == server:
            _setns(own_pid_namespace)
    if launcher == 0:
        os.close(report_read)
        os.close(channel.detach())  # the kernel must never hold the server's socket
        _launch(request, spaces, fds, report_write, path_entry)
    for fd in spaces.values():
        os.close(fd)
    os.close(report_write)
    with os.fdopen(report_read, "rb") as report:
        said = report.read()
    return json.loads(said) if said else {"error": "the kernel launcher exited without reporting"}


def _sandbox_namespaces(holder: int) -> dict[str, int]:
    spaces = {name: os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY) for name in (*NAMESPACES, "pid", "user")}
    if os.fstat(spaces["user"]).st_ino == os.stat("/proc/self/ns/user").st_ino:
        for fd in spaces.values():
            os.close(fd)
        raise RuntimeError(f"process {holder} is not in a sandbox (it shares the host's user namespace)")
    return spaces


def _launch(request: dict, spaces: dict[str, int], stdio: list[int], report: int, path_entry: str) -> None:
    """In the launcher: enter the sandbox, fork the kernel, report its pid.

    In a sandbox the launcher was born inside the sandbox's pid namespace, and exits once the
    kernel is forked: the kernel's parent then becomes the sandbox's init, as a cold kernel's is
    (a parent outside the namespace would be invisible to it, and its orphans would go to the
    host's init). Its pid is reported as the sandbox sees it. Without a sandbox the launcher
    stays the kernel's parent, to reap it, and dies with the server, taking the kernel along.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sandboxed = bool(spaces)
    try:
        if sandboxed:
            _enter_sandbox(request["sandbox"], spaces)
        else:
            if request.get("confine"):
                _confine_to_uid(request["confine"])
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
        kernel = os.fork()
    except BaseException as err:
        _report(report, {"error": f"{type(err).__name__}: {err}"})
        os._exit(1)
    if kernel == 0:
        os.close(report)
        if not sandboxed:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _run_kernel(request, stdio, path_entry)
    if sandboxed:
        _report(report, {"sandbox_pid": kernel})
    else:
        _report(report, {"pid": kernel})
        os.waitpid(kernel, 0)
    os._exit(0)


def _report(report: int, message: dict) -> None:
    os.write(report, json.dumps(message).encode())
    os.close(report)


def _enter_sandbox(sandbox: dict, spaces: dict[str, int]) -> None:
    for procs in sandbox["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    for name, value in sandbox["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    for name in NAMESPACES:
        _setns(spaces[name])
    uid = int(sandbox["host_uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: the kernel clears every capability
    _setns(spaces["user"])  # owner of its parent namespace, so allowed; grants capabilities inside it...
    _drop_capabilities()  # ...which go at once
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    for fd in spaces.values():
        os.close(fd)
    install_filter(base64.b64decode(sandbox["seccomp"], validate=True))  # last: it refuses setns


def _confine_to_uid(confine: dict) -> None:
    """Uid confinement, in the host's namespaces: the bounding set can only be emptied while still root."""
    for procs in confine["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    for name, value in confine["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    _drop_bounding_set()
    uid = int(confine["host_uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: permitted, effective and ambient sets are cleared
    _clear_capability_sets()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    install_filter(base64.b64decode(confine["seccomp"], validate=True))


def _run_kernel(request: dict, stdio: list[int], path_entry: str) -> None:
    """In the kernel's own process: a clean slate of descriptors, signals and environment, then ipykernel."""
    code = 1
    try:
        os.setsid()  # its own session: no terminal to inject keystrokes into
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's socket above all
        _prctl(PR_SET_DUMPABLE, 1)  # like any exec'd process: its own /proc files stay its own
        for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        # What `python -m ipykernel_launcher` started in cwd would have.
        sys.path[sys.path.index(path_entry)] = request["cwd"]
        import ipykernel_launcher
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = [ipykernel_launcher.__file__, *request["argv"]]
        IPKernelApp.launch_instance(argv=request["argv"])
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed, or its descriptor gone: nothing left to save
                continue
        os._exit(code)


def _setns(fd: int) -> None:
    if _libc.setns(fd, 0) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"setns: {os.strerror(number)}")


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"prctl({option}): {os.strerror(number)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _keep_only(kept: tuple[int, ...]) -> None:
    """Of every capability set, the bounding set too, keep `kept`; then no_new_privs (the server never execs)."""
    _drop_bounding_set(keep=kept)
    _set_capabilities(sum(1 << capability for capability in kept) & _permitted())  # a container may withhold some
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _permitted() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 16) for line in status if line.startswith("CapPrm:"))


def _drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets."""
    _drop_bounding_set()
    _clear_capability_sets()


def _drop_bounding_set(keep: tuple[int, ...] = ()) -> None:
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for capability in range(last + 1):
        if capability not in keep:
            _prctl(PR_CAPBSET_DROP, capability)


def _clear_capability_sets() -> None:
    """Empty the ambient, effective, permitted and inheritable sets."""
    _set_capabilities(0)


def _set_capabilities(mask: int) -> None:
    """Effective and permitted become `mask`; inheritable and ambient empty."""
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = mask & 0xFFFFFFFF
    data[1].effective = data[1].permitted = mask >> 32
    if _libc.capset(ctypes.byref(header), data) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"capset: {os.strerror(number)}")


def _cuda_initialised() -> bool:
    """Whether a preload initialised CUDA, which a forked child could not use. torch says so itself: CUDA
    builds may load the driver library at import (seen with torch 2.11 + CUDA 13) without initialising it.
    Without torch, the driver library mapped into the process is taken as a sign that it was."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_initialized())
    with open("/proc/self/maps") as maps:
        return any("libcuda.so" in line for line in maps)


if __name__ == "__main__":
    main()
