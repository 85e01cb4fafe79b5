"""Warm kernels (forked from a server that imported torch once) and parallel workers:
faster, and exactly as isolated and as correct as cold kernels one at a time."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_notebook
from typer.testing import CliRunner

from grader.batch import Workers, auto_jobs, grade_submissions
from grader.cli import app
from grader.probe.forkserver import RequestError, parse_request
from grader.run import NotebookRunner
from grader.run.sandbox import KernelPython, SandboxHost
from grader.run.warm import WarmKernels, WarmStartError, imports_of
from tests.conftest import PROBLEM_1_STUDENTS, RUBRIC, SUBMISSIONS, run_cli
from tests.test_gradebook import CrashingGrader, book  # noqa: F401  (book: a fixture)

TAMPER = [
    "import builtins, os, sys, torch\n"
    "LEFT_BEHIND = 'globals'\n"
    "builtins.LEFT_BEHIND = 'builtins'\n"
    "torch.manual_seed = lambda seed: 'monkeypatched'\n"
    "torch.Tensor.sum = lambda self: 'monkeypatched'\n"
    "os.environ['LEFT_BEHIND'] = 'environment'\n"
    "sys.modules['left_behind'] = sys\n"
    "open('/tmp/left-behind', 'w').write('tmp')\n"
    "open('left-behind', 'w').write('work')\n"
    "os.makedirs(os.path.expanduser('~/.left-behind'))",
]
OBSERVE = [
    "import sys\nprint('torch' in sys.modules)",  # before any import: the kernel was forked warm
    "import builtins, os, torch\n"
    "print('LEFT_BEHIND' in globals(), hasattr(builtins, 'LEFT_BEHIND'), os.environ.get('LEFT_BEHIND'),\n"
    "      'left_behind' in sys.modules, os.path.exists('/tmp/left-behind'), os.path.exists('left-behind'),\n"
    "      os.path.exists(os.path.expanduser('~/.left-behind')))\n"
    "print(torch.manual_seed(0).initial_seed(), torch.ones(3).sum().item())",
    "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
    "print(os.getppid(), os.getuid(), os.getcwd(), sorted(os.listdir('.')), status['NoNewPrivs'].strip(),\n"
    "      {key: status[key].strip() for key in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb')})\n"
    "links = []\n"
    "for fd in os.listdir('/proc/self/fd'):\n"
    "    try:\n"
    "        links.append(os.readlink(f'/proc/self/fd/{fd}'))\n"
    "    except OSError:  # the descriptor listdir itself used\n"
    "        pass\n"
    "print(sorted(links))",
]


def notebook(folder: Path, name: str, sources: list[str]) -> tuple[nbformat.NotebookNode, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    path = folder / name
    nbformat.write(nb, path)
    return nb, path


def printed(execution) -> list[str]:
    return [output["text"] for cell in execution.notebook.cells for output in cell.outputs if "text" in output]


@pytest.mark.notebooks
def test_a_warm_kernel_sees_nothing_an_earlier_one_did_and_is_as_confined_as_a_cold_one(tmp_path, sandbox_host,
                                                                                         warm_kernels):
    runner = NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60, cache_dir=tmp_path / "cache",
                            sandbox=sandbox_host, warm=warm_kernels)
    tampered = runner.run(*notebook(tmp_path / "a", "a.ipynb", TAMPER))
    assert [cell.status for cell in tampered.cells] == ["ok"]
    observed = runner.run(*notebook(tmp_path / "b", "b.ipynb", OBSERVE))
    assert [cell.status for cell in observed.cells] == ["ok", "ok", "ok"]
    lines = "".join(printed(observed)).splitlines()
    assert lines[:3] == ["True", "False False None False False False False", "0 3.0"]
    no_capabilities = "{'CapEff': '0000000000000000', 'CapPrm': '0000000000000000', " \
                      "'CapBnd': '0000000000000000', 'CapAmb': '0000000000000000'}"
    # Its parent is the sandbox's init, as a cold kernel's is.
    assert lines[3] == f"1 1000 /sandbox/work ['b.ipynb'] 1 {no_capabilities}"
    # Nothing of the fork server is left open in the kernel: above all not its socket to the grader.
    server_socket = os.readlink(f"/proc/{_server_pid(warm_kernels)}/fd/{_server_socket_fd(warm_kernels)}")
    descriptors = lines[4]
    assert server_socket.startswith("socket:[") and server_socket not in descriptors
    assert "'/dev/null'" in descriptors and "kernel.log" in descriptors  # stdin/stdout, stderr


def _server_socket_fd(warm: WarmKernels) -> int:
    """The descriptor the server (under its wrapper) got its socket on, from its command line."""
    pid = _server_pid(warm)
    argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    return int(argv[argv.index("--socket-fd") + 1])


def _server_pid(warm: WarmKernels) -> int:
    pending = [warm.process.pid]
    while pending:
        pid = pending.pop()
        if Path(f"/proc/{pid}/cmdline").read_text().split("\0")[1:3] == ["-m", "grader.probe.forkserver"]:
            return pid
        pending += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    raise AssertionError("no fork server under the wrapper")


@pytest.mark.notebooks
def test_the_server_refuses_to_fork_into_the_host_and_reports_modules_it_could_not_import(tmp_path, sandbox_host):
    with WarmKernels.start(sys.executable, ["no_such_module", "matplotlib.pyplot"], sandbox_host.base_env(),
                           tmp_path / "warm.log", sandbox_host.server_wrapper(), kernels="sandbox") as warm:
        assert warm.failed == {"no_such_module": "ModuleNotFoundError: No module named 'no_such_module'"}
        assert warm.cuda_initialised is False
        # pyplot imported before the kernel existed still draws inline, in every cell.
        runner = NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60, cache_dir=tmp_path / "cache",
                                sandbox=sandbox_host, warm=warm)
        plots = runner.run(*notebook(tmp_path / "p", "p.ipynb", [
            "import matplotlib, matplotlib.pyplot as plt\nprint(matplotlib.get_backend())\nplt.plot([1, 2]);",
            "plt.plot([2, 1]);"]))
        assert [[(output.output_type, sorted(output.get("data", {}))) for output in cell.outputs]
                for cell in plots.notebook.cells] == [
            [("stream", []), ("display_data", ["image/png", "text/plain"])],
            [("display_data", ["image/png", "text/plain"])]]
        assert printed(plots) == ["module://matplotlib_inline.backend_inline\n"]
        request = {"env": {}, "cwd": "/", "argv": [],
                   "sandbox": {"holder_pid": os.getpid(), "host_uid": 200_999, "cgroup_procs": [], "rlimits": {},
                               "seccomp": "AAAA"}}
        with open(os.devnull, "rb") as null:
            with pytest.raises(WarmStartError, match=rf"^RuntimeError: process {os.getpid()} is not in a sandbox "
                                                     r"\(it shares the host's user namespace\)"):
                warm.spawn(request, (null.fileno(),) * 3)
            with pytest.raises(WarmStartError, match=r"^expected the kernel's stdin, stdout and stderr, got 1"):
                warm.spawn(request, (null.fileno(),))


def test_a_server_that_cannot_start_says_why(tmp_path):
    with pytest.raises(WarmStartError, match="the warm kernel server did not start") as caught:
        WarmKernels.start("/nowhere/python", [], {"PATH": "/usr/bin:/bin"}, tmp_path / "warm.log")
    assert "/nowhere/python" in str(caught.value)


def test_the_server_sees_a_private_tmp_with_the_kernels_python_bound_back_when_it_lives_there(sandbox_host):
    moved = KernelPython(executable="/tmp/ci/.venv/bin/python", prefix=Path("/tmp/ci/.venv"),
                         base_prefix=Path("/usr"), grader_package=Path("/tmp/ci/grader"))
    host = SandboxHost(moved, sandbox_host.limits, sandbox_host.cgroups, Path("/var/cache/grader"), "/usr/bin/bwrap",
                      sandbox_host.seccomp)
    argv = host.server_wrapper()
    assert argv[:9] == ["/usr/bin/bwrap", "--dev-bind", "/", "/", "--tmpfs", "/tmp",
                        "--ro-bind", "/tmp/ci/.venv", "/tmp/ci/.venv"]
    assert argv[9:15] == ["--ro-bind", "/tmp/ci/grader", "/tmp/ci/grader",
                          "--ro-bind", "/var/cache/grader/matplotlib", "/tmp/.grader-fonts"]


def test_what_is_preloaded_is_what_the_solution_imports(tmp_path):
    assert imports_of(RUBRIC / "solution.ipynb") == ["torch", "matplotlib.pyplot", "fastai.vision.all"]
    _, path = notebook(tmp_path, "nb.ipynb", [
        "%matplotlib inline\nimport numpy as np, os.path\nfrom . import local",
        "!pip install x\nfrom sklearn.datasets import load_digits\nimport numpy",
        "def broken(:\n    import never",
        "if True:\n    import only_when_run",
    ])
    assert imports_of(path) == ["numpy", "os.path", "sklearn.datasets"]


def test_workers_are_planned_per_core_and_memory_or_per_gpu(monkeypatch):
    assert Workers.plan(3).gpus == (None, None, None)
    assert Workers.plan(0, (0, 1), per_gpu=2).gpus == (0, 0, 1, 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr("grader.batch._available_memory_mb", lambda: 10 * 1024)
    assert auto_jobs(4096) == (2, "4 core(s), 10.0 GB available ÷ 4096 MB per kernel")
    assert auto_jobs(1024) == (4, "4 core(s), 10.0 GB available ÷ 1024 MB per kernel")
    assert auto_jobs(16384)[0] == 1


class GpuRecordingGrader(CrashingGrader):
    """Grades slowly and records which GPUs were in use at once."""

    def __init__(self) -> None:
        super().__init__(crash_on=None)
        self.lock = threading.Lock()
        self.running: dict[int | None, int] = {}
        self.most: dict[int | None, int] = {}

    def grade(self, submission, gpu=None):
        with self.lock:
            self.running[gpu] = self.running.get(gpu, 0) + 1
            self.most[gpu] = max(self.most.get(gpu, 0), self.running[gpu])
        time.sleep(0.2)
        with self.lock:
            self.running[gpu] -= 1
        return super().grade(submission, gpu)


def test_each_gpu_runs_at_most_per_gpu_kernels_and_results_are_stored_by_the_main_thread(tmp_path, book):  # noqa: F811
    folder = tmp_path / "subs"
    folder.mkdir()
    for n in range(1, 13):
        (folder / f"s({n:02}).ipynb").write_text(str(n))
    from grader.submission import discover

    grader = GpuRecordingGrader()
    outcome = grade_submissions(discover(folder, "*.ipynb"), grader, book, tmp_path / "out",
                                workers=Workers.plan(0, (0, 1), per_gpu=2))
    assert outcome.graded == 12 and grader.most == {0: 2, 1: 2}
    assert book.students() == [f"{n:02}" for n in range(1, 13)]


def _comparable(out: Path) -> dict:
    """results.json without what only says when and how long."""
    def strip(value):
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items() if key not in ("seconds", "graded_at", "generated_at")}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value
    return strip(json.loads((out / "results.json").read_text(encoding="utf-8")))


COLD_PROBLEM_1 = frozenset({"2022021"})


@pytest.mark.notebooks
def test_warm_kernels_grade_exactly_as_cold_kernels(tmp_path, cache_dir, graded):
    # The Problem 2 and 3 samples (민하진's copy of 한예린's outputs among them: nothing of its Problem 1 runs), and
    # one of Problem 1's, which trains unseeded: the course's crawl handed in
    # without images (crawled on the stand-in; its CAM and training as fastbook's). Seeded alike, with the
    # libraries' imports drawing nothing from the streams (a cold kernel imports fastai after the seed), it trains
    # the same model; so grading a Problem 1 notebook again gives the same results.json but for its times.
    folder = tmp_path / "subs"
    folder.mkdir()
    for sample in SUBMISSIONS.iterdir():
        if sample.name != "README.md" and not any(f"({student})" in sample.name
                                                  for student in PROBLEM_1_STUDENTS - COLD_PROBLEM_1):
            (shutil.copytree if sample.is_dir() else shutil.copy2)(sample, folder / sample.name)
    out = tmp_path / "cold"
    run_cli("grade", str(folder), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", "--jobs", "2", "--cold",
            "--cpu-fallback", env_cache=cache_dir)
    cold, warm = _comparable(out), _comparable(graded)  # `graded`: --jobs 2, warm, --cpu-fallback
    students = {submission["student"] for submission in cold["submissions"]}
    warm["submissions"] = [submission for submission in warm["submissions"] if submission["student"] in students]
    assert len(students) == 16 and cold == warm
    for student in students:
        ours = (graded / "students" / f"{student}.html").read_text(encoding="utf-8")
        theirs = (out / "students" / f"{student}.html").read_text(encoding="utf-8")
        assert _without_times(ours) == _without_times(theirs), student


def _without_times(html: str) -> str:
    import re

    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?|\d+(\.\d+)? s\b", "…", html)


def test_jobs_and_gpus_are_checked_before_anything_runs(tmp_path, cache_dir):
    for args, message in [
        (["--jobs", "0"], "--jobs 0: expected a number from 1, or auto"),
        (["--jobs", "many"], "--jobs many: expected a number from 1, or auto"),
        (["--gpus", "0,x"], "--gpus 0,x: expected GPU indices separated by commas, e.g. 0,1"),
        (["--gpus", "1,1"], "--gpus 1,1: each GPU once, as an index from 0"),
        (["--gpus", "0", "--jobs", "4"], "--jobs and --gpus: with GPUs the kernels at once are --per-gpu × the "
                                         "number of GPUs"),
        (["--gpus", "7"], "cannot sandbox the students' kernels: GPU 7: this host has no /dev/nvidia7"),
    ]:
        # In-process: each refusal comes before anything is imported or run, and six interpreters would cost 40 s.
        done = CliRunner().invoke(app, ["grade", str(SUBMISSIONS), "--rubric", str(RUBRIC), "--out",
                                        str(tmp_path / "out"), "--cache-dir", str(cache_dir), *args])
        assert done.exit_code == 2 and f"error: {message}" in " ".join(done.stderr.split()), (args, done.output)
    assert not (tmp_path / "out").exists()


VALID_SANDBOX_REQUEST = {
    "env": {"PATH": "/usr/bin"}, "cwd": "/sandbox/work", "argv": ["-f", "/tmp/k.json"],
    "sandbox": {"holder_pid": 4242, "host_uid": 200_001, "cgroup_procs": ["/sys/fs/cgroup/grader/1-200001/cgroup.procs"],
                "rlimits": {"RLIMIT_FSIZE": 1 << 20}, "seccomp": "AAAAAAAAAAA="}}
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)


def _mutations(request: dict) -> st.SearchStrategy[dict]:
    """The grader's request with one field (at any depth) replaced by any JSON value, or dropped."""
    paths = [(key,) for key in request] + [("sandbox", key) for key in request["sandbox"]]

    def mutate(path: tuple[str, ...], value: object, drop: bool) -> dict:
        changed = json.loads(json.dumps(request))
        target = changed if len(path) == 1 else changed[path[0]]
        if drop:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return changed
    return st.builds(mutate, st.sampled_from(paths), JSON_VALUES, st.booleans())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.binary(max_size=64), st.builds(lambda r: json.dumps(r).encode(), _mutations(VALID_SANDBOX_REQUEST)),
                 st.builds(lambda cut: json.dumps(VALID_SANDBOX_REQUEST).encode()[:cut],
                           st.integers(0, len(json.dumps(VALID_SANDBOX_REQUEST)) - 1))))
def test_the_servers_parser_accepts_only_the_graders_request_and_refuses_the_rest_with_its_own_error(message):
    try:
        parsed = parse_request(message, "sandbox")
    except RequestError as err:
        assert str(err)
        return
    # What gets through has every field of the right type (a mutation may have put an equally valid value).
    assert set(parsed) == {"env", "cwd", "argv", "sandbox"} and isinstance(parsed["sandbox"]["holder_pid"], int)


def test_the_servers_parser_refuses_requests_for_another_confinement_and_root():
    assert parse_request(json.dumps(VALID_SANDBOX_REQUEST).encode(), "sandbox") == VALID_SANDBOX_REQUEST
    unconfined = {key: VALID_SANDBOX_REQUEST[key] for key in ("env", "cwd", "argv")}
    with pytest.raises(RequestError, match=r"^a request for this server has exactly the keys \['argv', 'cwd', 'env', "
                                           r"'sandbox'\]$"):
        parse_request(json.dumps(unconfined).encode(), "sandbox")  # a kernel outside the sandbox, as root
    as_root = json.loads(json.dumps(VALID_SANDBOX_REQUEST))
    as_root["sandbox"]["host_uid"] = 0
    with pytest.raises(RequestError, match=r"^the request's host_uid is not what the grader sends$"):
        parse_request(json.dumps(as_root).encode(), "sandbox")
    escaping = json.loads(json.dumps(VALID_SANDBOX_REQUEST))
    escaping["sandbox"]["cgroup_procs"] = ["/sys/fs/cgroup/../../etc/cgroup.procs"]
    with pytest.raises(RequestError, match=r"^the request's cgroup_procs is not what the grader sends$"):
        parse_request(json.dumps(escaping).encode(), "sandbox")
    with pytest.raises(RequestError, match=r"^a request for this server has exactly the keys \['argv', 'cwd', 'env'\]"):
        parse_request(json.dumps(VALID_SANDBOX_REQUEST).encode(), "none")


def _permitted() -> int:
    return int(_capabilities(os.getpid())["CapPrm"], 16)


def _capabilities(pid: int) -> dict[str, str]:
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: status[key].strip() for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")}


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


@pytest.mark.notebooks
def test_the_root_server_keeps_only_what_its_forks_need_and_random_requests_fork_nothing(tmp_path, sandbox_host):
    rng = random.Random(21)
    valid = json.dumps(VALID_SANDBOX_REQUEST).encode()
    garbage = ([valid[:cut] for cut in range(0, len(valid), 7)] + [rng.randbytes(rng.randrange(1, 300)) for _ in range(100)]
               + [b"[]", b"null", b'"sandbox"', b"{}", b"NaN", b"\xff\xfe", b"{" * 5000 + b"}" * 5000])
    with WarmKernels.start(sys.executable, [], sandbox_host.base_env(), tmp_path / "warm.log",
                           sandbox_host.server_wrapper(), kernels="sandbox") as warm:
        server = _server_pid(warm)
        # DAC_OVERRIDE, SETGID, SETUID, SYS_CHROOT, SYS_PTRACE, SYS_ADMIN, SYS_RESOURCE: bits 1, 6, 7, 18, 19, 21, 24
        # (of those this test's process has: a container may withhold some, as this one withholds SYS_RESOURCE)
        kept = f"{((1 << 1) | (1 << 6) | (1 << 7) | (1 << 18) | (1 << 19) | (1 << 21) | (1 << 24)) & _permitted():016x}"
        assert _capabilities(server) == {"CapInh": "0" * 16, "CapPrm": kept, "CapEff": kept, "CapBnd": kept,
                                         "CapAmb": "0" * 16, "NoNewPrivs": "1"}
        with open(os.devnull, "rb") as null:
            replies = []
            for message in garbage:
                socket.send_fds(warm._channel, [message], [null.fileno()] * 3)
                replies.append(json.loads(warm._channel.recv(1 << 16)))
            assert all(set(reply) == {"error"} and reply["error"] for reply in replies)
            assert _children(server) == []
            # Still serving: a request of the right shape reaches the sandbox check.
            with pytest.raises(WarmStartError, match=r"^RuntimeError: process 4242 is not in a sandbox|^FileNotFound"):
                warm.spawn(VALID_SANDBOX_REQUEST, (null.fileno(),) * 3)
        assert warm.process.poll() is None
