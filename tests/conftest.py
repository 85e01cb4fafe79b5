"""Shared fixtures. Tests that execute notebooks share one graded copy of the
sample submissions per test run (grading them takes ~1 minute on 2 cores,
started in the background with the first test), and one grader cache. Under
pytest-xdist (`-n`), each of these is made once by whichever worker asks
first, the others waiting for it (`made_once`)."""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
SUBMISSIONS = ROOT / "submissions" / "dl2022-midterm"
# Samples that answer Problem 1 (scripts/build_problem1.py): their training's numbers are compared between warm
# kernels only (tests/test_warm.py).
PROBLEM_1_STUDENTS = frozenset(f"20220{n}" for n in range(14, 24))


# Commands that start no kernel run in the test's process: a fresh `python -m grader` spends ~7 s importing.
IN_PROCESS = frozenset({"set", "export", "report", "feedback"})


def run_cli(*args: str, env_cache: Path, check: bool = True) -> subprocess.CompletedProcess:
    import os

    if args[0] in IN_PROCESS:
        from typer.testing import CliRunner

        from grader.cli import app

        invoked = CliRunner().invoke(app, list(args), env={"GRADER_CACHE": str(env_cache)}, catch_exceptions=False)
        done = subprocess.CompletedProcess(args, invoked.exit_code, invoked.stdout, invoked.stderr)
    else:
        env = dict(os.environ, GRADER_CACHE=str(env_cache))
        done = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, env=env,
                              cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"grader {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def problems_2_and_3_rubric(tmp: Path) -> Path:
    """The midterm without Problem 1: a notebook answering Problems 2 and 3 has nothing missing."""
    folder = tmp / "p23"
    shutil.copytree(RUBRIC, folder, ignore=shutil.ignore_patterns("solution-data"))
    document = yaml.safe_load((folder / "rubric.yaml").read_text(encoding="utf-8"))
    document["items"] = [item for item in document["items"] if not item["id"].startswith("1.")]
    document["total"] = 50
    document.pop("solution_data")
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    solution = nbformat.read(folder / "solution.ipynb", as_version=4)
    problem_2 = next(i for i, cell in enumerate(solution.cells) if cell.source.startswith("## `2`"))
    solution.cells = [solution.cells[0]] + solution.cells[problem_2:]  # keeps the imports
    nbformat.write(solution, folder / "solution.ipynb")
    return folder


def made_once(tmp_path_factory, name: str, make: Callable[[Path], object]) -> Path:
    """A folder that `make` fills once per test run. A session fixture runs once in each pytest-xdist worker: the
    first worker to ask makes it where all of them look, the others wait for it and read it as it is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's own
    folder, made = shared / name, shared / f"{name}.made"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            made.touch()
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """The grader's cache for the test run, with synthetic assets (no network here) as `make demo` makes them."""
    return made_once(tmp_path_factory, "cache", lambda cache: run_cli("assets", "synth", "--cache-dir", str(cache),
                                                                      env_cache=cache))


class Files(http.server.BaseHTTPRequestHandler):
    """Serves `routes`: path → (body, Content-Length to announce, Content-Type or None), and notes each path asked
    for in `asked`. Announcing more than the body and closing imitates a download cut short."""

    routes: dict[str, tuple[bytes, int, str | None]] = {}
    asked: list[str] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, announced, content_type = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:
        """http.server logs every request to stderr; the tests' output stays quiet."""


class Serving:
    """What `serve` gives: serve(path, body, announced=len(body), content_type=None) → the URL that serves it, from
    127.0.0.1; `asked`: the paths requested so far."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked = Files.asked

    def __call__(self, path: str, body: bytes, announced: int | None = None, content_type: str | None = None) -> str:
        Files.routes[path] = (body, len(body) if announced is None else announced, content_type)
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def serve() -> Iterator[Serving]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    Files.routes, Files.asked = {}, []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Serving(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def grader_wheel(tmp_path_factory) -> Path:
    """This grader's wheel, built from its source once, as `grader release` builds it."""
    from grader.selfcheck.wheel import build_grader_wheel

    (wheel,) = made_once(tmp_path_factory, "wheel", build_grader_wheel).glob("grader-*.whl")
    return wheel


@pytest.fixture(scope="session")
def sandbox_host(cache_dir):
    """The host's sandbox, set up as `grader grade` does (the tests run as root, like CI)."""
    from grader.run.sandbox import Limits, SandboxHost

    return SandboxHost.prepare(sys.executable, Limits(memory_mb=2048, processes=128, file_size_mb=64, tmp_mb=256),
                               cache_dir)


@pytest.fixture(scope="session")
def warm_kernels(sandbox_host, cache_dir):
    """A fork server with torch imported, for sandboxed kernels."""
    from grader.run.warm import WarmKernels

    with WarmKernels.start(sys.executable, ["torch"], sandbox_host.base_env(), cache_dir / "warm.log",
                           sandbox_host.server_wrapper(), kernels="sandbox") as warm:
        yield warm


@pytest.fixture(scope="session")
def uid_host(cache_dir):
    """Uid confinement, as `grader grade --confine uid` sets it up where the sandbox cannot run."""
    from grader.run.sandbox import Limits
    from grader.run.uid_confinement import UidHost

    return UidHost.prepare(sys.executable, Limits(memory_mb=2048, processes=128, file_size_mb=64, tmp_mb=256),
                           cache_dir, private=[])


@pytest.fixture(scope="session")
def uid_warm_kernels(uid_host, cache_dir):
    """A fork server with torch imported, for kernels confined by uid alone."""
    from grader.run.warm import WarmKernels

    with WarmKernels.start(sys.executable, ["torch"], uid_host.base_env(), cache_dir / "warm.log",
                           uid_host.server_wrapper(), kernels="uid") as warm:
        yield warm


@pytest.fixture(scope="session")
def unsandboxed_warm_kernels(cache_dir):
    """A fork server with torch imported, for `--no-sandbox` kernels."""
    from grader.run.warm import WarmKernels
    from grader.run.workspace import unsandboxed_base_env

    with WarmKernels.start(sys.executable, ["torch"], unsandboxed_base_env(Path(sys.executable).parent, cache_dir),
                           cache_dir / "warm.log") as warm:
        yield warm


def _uses_the_graded_samples(item: pytest.Item) -> bool:
    """Whether a test uses `graded` below, not a module's own fixture or a parameter of that name."""
    definitions = item._fixtureinfo.name2fixturedefs.get("graded", ())  # pytest has no public way to ask
    return bool(definitions) and definitions[-1].func.__module__ == __name__


@pytest.fixture(scope="session", autouse=True)
def samples_grading(request, tmp_path_factory) -> Iterator[Future[Path] | None]:
    """Where any test of this run uses the graded samples, their grading starts with the first test, in the
    background: the minute it takes passes while other tests run."""
    if not any(_uses_the_graded_samples(item) for item in request.session.items):
        yield None
        return
    cache = request.getfixturevalue("cache_dir")
    with ThreadPoolExecutor(1) as background:
        yield background.submit(made_once, tmp_path_factory, "graded", lambda out: run_cli(
            "grade", str(SUBMISSIONS), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", "--jobs", "2",
            "--cpu-fallback", env_cache=cache))


@pytest.fixture(scope="session")
def graded(samples_grading) -> Path:
    """The sample submissions graded once with the CLI, two at a time; returns the output folder, which tests only
    read (one that changes it works on a copy)."""
    return samples_grading.result()


@pytest.fixture(scope="session")
def results(graded) -> dict:
    document = json.loads((graded / "results.json").read_text(encoding="utf-8"))
    return {submission["student"]: submission for submission in document["submissions"]} | {"_document": document}
