"""The sandbox's set-up: refusals with reasons, cgroup limits, what is bound, --no-sandbox."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from grader.owners import own_tag
from grader.run.cgroups import Cgroups, KernelCgroup
from grader.run.sandbox import ENABLE_USERNS_HELP, Limits, SandboxHost, SandboxUnavailable, _gpu_binds
from tests.conftest import RUBRIC, run_cli
from tests.test_crash import batch_of

LIMITS = Limits(memory_mb=512, processes=32, file_size_mb=8, tmp_mb=32)
NO_USERNS = "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces."


@pytest.fixture
def public_dir():
    """A folder the sandbox uid can enter (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def fake_bwrap(folder: Path) -> Path:
    """A bwrap that fails the way it does where unprivileged user namespaces are off."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    path = folder / "bwrap"
    path.write_text(f"#!/bin/sh\necho '{NO_USERNS}' >&2\nexit 1\n")
    path.chmod(0o755)
    return path


def test_a_host_without_user_namespaces_is_refused_with_the_fix(tmp_path, public_dir):
    with pytest.raises(SandboxUnavailable) as caught:
        SandboxHost.prepare(sys.executable, LIMITS, tmp_path / "cache", bwrap=str(fake_bwrap(public_dir)))
    assert str(caught.value) == (f"bubblewrap cannot create the sandbox's namespaces on this host ({NO_USERNS}); "
                                 + ENABLE_USERNS_HELP)


def test_missing_tools_non_root_and_absent_gpus_are_refused(tmp_path, monkeypatch):
    with pytest.raises(SandboxUnavailable, match=r"^/nowhere/bwrap not found; install it: `apt-get install bubblewrap util-linux`$"):
        SandboxHost.prepare(sys.executable, LIMITS, tmp_path, bwrap="/nowhere/bwrap")
    with pytest.raises(SandboxUnavailable, match=r"^GPU 7: this host has no /dev/nvidia7 "):
        SandboxHost.prepare(sys.executable, LIMITS, tmp_path, gpus=(7,))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailable, match=r"^the sandbox needs root: it runs each kernel as its own unprivileged uid"):
        SandboxHost.prepare(sys.executable, LIMITS, tmp_path)


def test_each_sandbox_gets_its_own_uid_and_capped_cgroup_which_goes_away(tmp_path, sandbox_host):
    host = SandboxHost(sandbox_host.python, LIMITS, sandbox_host.cgroups, sandbox_host.cache_dir, sandbox_host.bwrap,
                       sandbox_host.seccomp)
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        (root / "submission").mkdir(parents=True)
        (root / "rt").mkdir()
    with host.sandbox(roots[0], roots[0] / "submission") as first, host.sandbox(roots[1], roots[1] / "submission") as second:
        assert first.uid != second.uid
        assert (roots[0] / "rt").stat().st_uid == first.uid
        for group in (first.cgroup, second.cgroup):
            if group.version == 1:
                memory, pids = group.dirs
                assert (memory / "memory.limit_in_bytes").read_text().strip() == str(512 * 1024 * 1024)
                assert (pids / "pids.max").read_text().strip() == "32"
            else:
                assert (group.dirs[0] / "memory.max").read_text().strip() == str(512 * 1024 * 1024)
                assert (group.dirs[0] / "pids.max").read_text().strip() == "32"
        argv = first.wrap(["python"])
        assert "--unshare-all" in argv and "--die-with-parent" in argv and f"--reuid={first.uid}" in argv
        assert not any("nvidia" in arg for arg in argv)  # no GPU given, none bound
        assert not any(str(RUBRIC) in arg or "submissions" in arg for arg in argv)
        names = {f"{own_tag()}-{first.uid}", f"{own_tag()}-{second.uid}"}
        assert names <= Cgroups.detect().names_in_use()
    assert not names & Cgroups.detect().names_in_use()


def test_a_gpu_is_bound_only_when_given_and_packed_kernels_get_a_share_of_its_memory(sandbox_host, tmp_path):
    (tmp_path / "submission").mkdir()
    with sandbox_host.sandbox(tmp_path, tmp_path / "submission", gpu=0) as box:
        argv = box.wrap(["python"])
    assert "/sys" in argv  # CUDA reads /sys; the device nodes are bound when the host has them
    (tmp_path / "cpu").mkdir()
    with sandbox_host.sandbox(tmp_path / "cpu", tmp_path / "submission") as box:
        assert "/sys" not in box.wrap(["python"])
    assert _gpu_binds(None) == []
    assert sandbox_host.kernel_env(tmp_path, "E", gpu=1)["CUDA_VISIBLE_DEVICES"] == "1"
    assert sandbox_host.kernel_env(tmp_path, "E")["CUDA_VISIBLE_DEVICES"] == ""
    packed = sandbox_host.kernel_env(tmp_path, "E", gpu=1, gpu_memory_fraction=0.475)
    assert packed["PYTORCH_CUDA_ALLOC_CONF"] == "per_process_memory_fraction:0.475"
    assert "PYTORCH_CUDA_ALLOC_CONF" not in sandbox_host.kernel_env(tmp_path, "E", gpu_memory_fraction=0.475)


def test_the_cli_refuses_to_grade_where_there_is_no_sandbox(tmp_path, cache_dir, public_dir):
    bin_dir = public_dir
    fake_bwrap(bin_dir)
    for tool in ("setpriv", "prlimit"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    env_path = f"{bin_dir}:{os.environ['PATH']}"
    batch = batch_of(tmp_path / "batch", 1)
    old = os.environ["PATH"]
    os.environ["PATH"] = env_path
    try:
        done = run_cli("grade", str(batch), "--rubric", str(RUBRIC), "--out", str(tmp_path / "out"), "-q",
                       env_cache=cache_dir, check=False)
    finally:
        os.environ["PATH"] = old
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "error: cannot sandbox the students' kernels: bubblewrap cannot create the sandbox's namespaces" in message
    assert "sysctl -w user.max_user_namespaces=15000" in message and "--no-sandbox" in message
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.notebooks
def test_no_sandbox_is_loud_in_the_console_and_in_every_report(tmp_path, cache_dir, graded):
    batch, out = batch_of(tmp_path / "batch", 1), tmp_path / "out"
    done = run_cli("grade", str(batch), "--rubric", str(RUBRIC), "--out", str(out), "-q", "--no-sandbox",
                   env_cache=cache_dir)
    assert "--no-sandbox students' code runs unconfined, as you" in " ".join(done.stderr.split())
    (result,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    assert (result["total"], result["flags"], result["sandboxed"]) == (20.0, ["no-sandbox"], False)
    for page in (out / "index.html", out / "students" / "2023001.html"):
        assert "Not sandboxed:" in page.read_text(encoding="utf-8")
    # A sandboxed run does not take the unsandboxed grade for its own.
    again = run_cli("grade", str(batch), "--rubric", str(RUBRIC), "--out", str(out), "-q", env_cache=cache_dir)
    assert "graded 1, unchanged 0" in again.stderr
    # something to grade again: the warm kernels start (a re-run with nothing to grade starts none, test_samples.py)
    assert "warm kernels: torch, matplotlib.pyplot, fastai.vision.all imported once in" in again.stderr
    (result,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    assert (result["flags"], result["sandboxed"]) == ([], True)
    assert "Not sandboxed:" not in (out / "index.html").read_text(encoding="utf-8")



def test_cgroup_v2_files_are_written_and_read_as_the_kernel_documents_them(tmp_path):
    """This host has cgroup v1; the v2 code path is checked against a folder laid out like cgroupfs."""
    folder = tmp_path / "123-200000"
    folder.mkdir()
    for name in ("memory.max", "memory.swap.max", "pids.max"):
        (folder / name).write_text("max\n")
    group = KernelCgroup(version=2, dirs=(folder,))
    group.set_limits(512 * 1024 * 1024, 32)
    assert [(folder / name).read_text() for name in ("memory.max", "memory.swap.max", "pids.max")] == [
        str(512 * 1024 * 1024), "0", "32"]
    assert group.procs_files == [folder / "cgroup.procs"]
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
    (folder / "pids.events").write_text("max 0\n")
    assert group.limits_hit() == []
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
    (folder / "pids.events").write_text("max 3\n")
    assert group.limits_hit() == ["memory", "processes"]


def test_cgroup_v1_oom_and_pids_counters_are_read(tmp_path):
    memory, pids = tmp_path / "memory", tmp_path / "pids"
    memory.mkdir()
    pids.mkdir()
    group = KernelCgroup(version=1, dirs=(memory, pids))
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (pids / "pids.events").write_text("max 0\n")
    assert group.limits_hit() == []
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.limits_hit() == ["memory"]
    assert group.procs_files == [memory / "cgroup.procs", pids / "cgroup.procs"]
