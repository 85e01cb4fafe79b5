"""The runner on tiny notebooks: every failure mode keeps what ran before it."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.run import NotebookRunner, execute

pytestmark = pytest.mark.notebooks


def notebook(tmp_path, *sources: str):
    nb = new_notebook(cells=[new_markdown_cell("# test")] + [new_code_cell(source) for source in sources])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return nb, path


def runner(tmp_path, sandbox, cell=30.0, budget=120.0, warm=None) -> NotebookRunner:
    return NotebookRunner(cell_timeout_s=cell, notebook_timeout_s=budget, cache_dir=tmp_path / "cache", sandbox=sandbox,
                          warm=warm)


KERNELS = ["sandboxed-cold", "sandboxed-warm", "uid-cold", "uid-warm", "no-sandbox-cold", "no-sandbox-warm"]
WARM = {"sandboxed": "warm_kernels", "uid": "uid_warm_kernels", "no-sandbox": "unsandboxed_warm_kernels"}


@pytest.fixture(params=KERNELS)
def kernels(request, sandbox_host):
    """(sandbox, warm kernels) for each way a kernel can start."""
    confinement, start = request.param.rsplit("-", 1)
    sandbox = (sandbox_host if confinement == "sandboxed" else
               request.getfixturevalue("uid_host") if confinement == "uid" else None)
    if start == "cold":
        return sandbox, None
    return sandbox, request.getfixturevalue(WARM[confinement])


def statuses(execution):
    return [(cell.cell, cell.status, cell.error) for cell in execution.cells]


def test_errors_and_timeouts_do_not_stop_the_notebook_and_a_dead_kernel_keeps_the_evidence(tmp_path, kernels):
    nb, path = notebook(
        tmp_path,
        "import torch\nw = torch.nn.Parameter(torch.tensor([1.0, 2.0]))\nopt = torch.optim.SGD([w], lr=0.5)",
        "(w ** 2).sum().backward()\nopt.step()\nprint(w.data)",
        "1/0",
        "",
        # Idle, so the other tests' processes keep the CPU; an event's wait, as time.sleep is on the virtual clock.
        "import threading\nwhile True:\n    threading.Event().wait(0.1)",
        "import sys; print('still here', file=sys.stderr)",
        "import os; os._exit(3)",
        "print('never')",
    )
    sandbox, warm = kernels
    # A cold kernel's first cell imports torch: 2-3 s on an idle core, so 6 s leaves room for a busy machine.
    execution = runner(tmp_path, sandbox, cell=6, warm=warm).run(nb, path)
    assert statuses(execution) == [
        (2, "ok", None), (3, "ok", None), (4, "error", "ZeroDivisionError: division by zero"),
        (6, "timeout", "stopped after the 6 s limit per cell"), (7, "ok", None),
        (8, "died", "the kernel died while running this cell"), (9, "not-run", None),
    ]
    assert (execution.stopped, execution.stopped_at) == ("kernel-died", 7)
    assert execution.run_cells == {1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 7}
    (step,) = execution.evidence.steps
    assert step.class_ == "SGD" and step.hyper["lr"] == 0.5 and step.run == 2
    assert step.params[0].grad.array().tolist() == [2.0, 4.0]
    assert step.params[0].after.array().tolist() == [0.0, 0.0]
    assert execution.notebook.cells[2].outputs[0]["text"] == "tensor([0., 0.])\n"
    assert nb.cells[2].outputs == []  # the submitted notebook object is never touched


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_the_notebook_budget_stops_the_run(tmp_path, sandbox_host, warm, request):
    nb, path = notebook(tmp_path, "import threading; threading.Event().wait(2)", "threading.Event().wait(5)",
                        "print(1)")
    warm_kernels = request.getfixturevalue("warm_kernels") if warm else None
    execution = runner(tmp_path, sandbox_host, cell=60, budget=3, warm=warm_kernels).run(nb, path)
    assert statuses(execution) == [
        (2, "ok", None), (3, "timeout", "the notebook's time budget ran out in this cell"), (4, "not-run", None)]
    assert execution.stopped == "budget"


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_a_kernel_that_ignores_the_interrupt_is_stopped(tmp_path, monkeypatch, sandbox_host, warm, request):
    monkeypatch.setattr(execute, "INTERRUPT_GRACE_S", 2.0)
    nb, path = notebook(tmp_path, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                        "print(1)")
    warm_kernels = request.getfixturevalue("warm_kernels") if warm else None
    execution = runner(tmp_path, sandbox_host, cell=1, warm=warm_kernels).run(nb, path)
    assert statuses(execution) == [
        (2, "timeout", "still running after 1 s and did not stop when interrupted"), (3, "not-run", None)]
    assert execution.stopped == "unresponsive"


CUDA_AND_IMSHOW = (
    "import torch\ntry:\n    print(torch.ones(2).cuda().device)\nexcept (AssertionError, RuntimeError):\n"
    "    print('no cuda')",
    "import matplotlib.pyplot as plt\nimport numpy as np\nfig, ax = plt.subplots()\n"
    "ax.imshow(np.zeros((8, 8, 3)))\nax.imshow(np.eye(4), alpha=0.5, cmap='magma', extent=(0, 8, 8, 0))",
)


@pytest.mark.parametrize("fallback", [False, True], ids=["gpu-calls-fail", "cpu-fallback"])
def test_displayed_arrays_cross_the_sandbox_and_cpu_fallback_runs_cuda_calls_on_the_cpu(tmp_path, kernels, fallback):
    nb, path = notebook(tmp_path, *CUDA_AND_IMSHOW)
    sandbox, warm = kernels
    execution = NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=tmp_path / "cache",
                               sandbox=sandbox, warm=warm, cpu_fallback=fallback).run(nb, path)
    assert statuses(execution) == [(2, "ok", None), (3, "ok", None)]
    printed = execution.notebook.cells[1].outputs[0]["text"]
    evidence = execution.evidence
    assert (printed, [e.call for e in evidence.device_fallbacks]) == (
        ("cpu\n", ["Tensor.cuda"]) if fallback else ("no cuda\n", []))
    image, heatmap = evidence.imshows
    assert (image.axes, image.shape, heatmap.axes, heatmap.shape) == ("x1", [8, 8, 3], "x1", [4, 4])
    assert (heatmap.alpha, heatmap.cmap, heatmap.extent, heatmap.origin) == (0.5, "magma", [0, 8, 8, 0], "upper")
    assert evidence.array(heatmap.array).tolist() == np.eye(4).tolist()


# Every path of the runtime folder the kernel knows: only the evidence file may be written, nothing created.
WRITES_IN_THE_RUNTIME = """import os
fds = [os.path.realpath(f'/proc/self/fd/{fd}') for fd in os.listdir('/proc/self/fd')]
evidence = next(path for path in fds if path.endswith('evidence.jsonl'))  # the probe's descriptor gives it away
runtime = os.path.dirname(evidence)
captures, plan = os.path.join(runtime, 'captures'), os.path.join(runtime, 'captures', 'captures.json')
for path, mode in [(evidence, 'ab'), (os.path.join(runtime, 'planted.bin'), 'xb'), (os.path.join(runtime, 'kernel.json'), 'ab'),
                   (os.path.join(captures, 'planted.bin'), 'xb'), (plan, 'ab'), (os.path.join(captures, 'inputs-1.npy'), 'ab')]:
    try:
        open(path, mode).close()
        print(os.path.relpath(path, runtime), 'WRITABLE')
    except OSError as err:
        print(os.path.relpath(path, runtime), type(err).__name__)
for path in (runtime, captures, plan):
    try:
        os.chmod(path, 0o777)
        print(os.path.relpath(path, runtime), 'CHMOD')
    except OSError as err:
        print(os.path.relpath(path, runtime), type(err).__name__)"""


@pytest.mark.parametrize("kernels", ["sandboxed-cold", "sandboxed-warm", "uid-cold", "uid-warm"], indirect=True)
def test_a_confined_kernel_writes_no_host_file_but_its_evidence_file(tmp_path, kernels):
    from grader.captures import CapturePlan, CaptureSpec

    nb, path = notebook(tmp_path, WRITES_IN_THE_RUNTIME)
    plan = CapturePlan()
    plan.inputs["inputs-1.npy"] = np.zeros(2)
    plan.add(1, CaptureSpec("1.1/0", "value", "1 + 1"))
    sandbox, warm = kernels
    execution = runner(tmp_path, sandbox, warm=warm).run(nb, path, None, plan)
    assert statuses(execution) == [(2, "ok", None)]
    assert execution.notebook.cells[1].outputs[0]["text"].splitlines() == [
        "evidence.jsonl WRITABLE", "planted.bin PermissionError", "kernel.json PermissionError",
        "captures/planted.bin PermissionError", "captures/captures.json PermissionError",
        "captures/inputs-1.npy PermissionError", ". PermissionError", "captures PermissionError",
        "captures/captures.json PermissionError"]
    assert execution.evidence.foreign_lines == []


@pytest.mark.parametrize("threads", [None, 1])
def test_torch_threads_are_capped_when_kernels_share_the_cores_and_wait_asleep(tmp_path, sandbox_host, warm_kernels,
                                                                               threads):
    import os

    nb, path = notebook(tmp_path, "import os, torch\nprint(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    execution = NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=tmp_path / "cache",
                               sandbox=sandbox_host, warm=warm_kernels, torch_threads=threads).run(nb, path)
    expected = threads or len(os.sched_getaffinity(0))
    assert execution.notebook.cells[1].outputs[0]["text"] == f"{expected} PASSIVE\n"


def test_kernels_of_every_confinement_share_the_locale_and_the_threads_waiting_asleep(sandbox_host, uid_host,
                                                                                      cache_dir):
    import sys
    from pathlib import Path

    from grader.run.workspace import EVERY_KERNEL_ENV, unsandboxed_base_env

    assert EVERY_KERNEL_ENV == {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                                "PYTHONHASHSEED": "0", "OMP_WAIT_POLICY": "PASSIVE"}
    for env in (sandbox_host.base_env(), uid_host.base_env(), unsandboxed_base_env(Path(sys.executable).parent,
                                                                                   cache_dir)):
        assert {key: env[key] for key in EVERY_KERNEL_ENV} == EVERY_KERNEL_ENV


FACTORIES_ON_CUDA = ("import torch\nd = torch.device('cuda:0')\n"
                     "print(torch.zeros(2, device='cuda').device, torch.tensor([1.0], device=d).device, "
                     "torch.ones(1).to(d).device, torch.arange(3, device='cuda:0').tolist())")


@pytest.mark.parametrize("fallback", [False, True], ids=["gpu-calls-fail", "cpu-fallback"])
def test_cpu_fallback_makes_tensors_asked_for_on_cuda_on_the_cpu(tmp_path, sandbox_host, warm_kernels, fallback):
    nb, path = notebook(tmp_path, FACTORIES_ON_CUDA)
    execution = NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=tmp_path / "cache",
                               sandbox=sandbox_host, warm=warm_kernels, cpu_fallback=fallback).run(nb, path)
    calls = [e.call for e in execution.evidence.device_fallbacks]
    if fallback:
        assert statuses(execution) == [(2, "ok", None)]
        assert (execution.notebook.cells[1].outputs[0]["text"], calls) == (
            "cpu cpu cpu [0, 1, 2]\n", ["torch.zeros(device=cuda)"])
    else:
        (status,) = statuses(execution)
        assert status[:2] == (2, "error") and calls == []
        assert status[2].startswith(("RuntimeError", "AssertionError")), status


DRAWS = "import random, numpy as np, torch\nprint(random.random(), np.random.rand(), torch.rand(1).item(), hash('iu'))"


def expected_draws(nb) -> str:
    """What DRAWS prints in a kernel seeded from `nb`'s code (the hash: PYTHONHASHSEED=0 in every kernel)."""
    import random
    import subprocess
    import sys

    import torch

    seed = execute.kernel_seed(nb)
    hashed = subprocess.run([sys.executable, "-c", "print(hash('iu'))"], env={"PYTHONHASHSEED": "0"},
                            capture_output=True, text=True, check=True).stdout.strip()
    return (f"{random.Random(seed).random()} {np.random.RandomState(seed % 2**32).rand()} "
            f"{torch.rand(1, generator=torch.Generator().manual_seed(seed)).item()} {hashed}\n")


def test_an_unseeded_notebook_draws_the_same_numbers_in_every_kernel_and_other_code_other_numbers(
        tmp_path, sandbox_host, warm_kernels, uid_host):
    from grader.captures import CapturePlan, CaptureSpec

    nb, path = notebook(tmp_path, DRAWS)
    # What the grader evaluates after a cell (here a capture that draws) leaves the notebook's streams alone.
    capture_plan = CapturePlan()
    capture_plan.add(1, CaptureSpec(id="x", what="value", expression="torch.rand(3)"))
    (tmp_path / "twice").mkdir()
    (tmp_path / "other").mkdir()
    nb_drawn_twice, twice_path = notebook(tmp_path / "twice", "import torch", DRAWS)
    printed = []
    for sandbox, warm in ((sandbox_host, None), (sandbox_host, warm_kernels), (uid_host, None), (None, None)):
        printed.append(runner(tmp_path, sandbox, warm=warm).run(nb, path).notebook.cells[1].outputs[0]["text"])
    assert printed == [expected_draws(nb)] * 4
    other, other_path = notebook(tmp_path / "other", DRAWS + "  # the same draws, other code")
    assert runner(tmp_path, sandbox_host).run(other, other_path).notebook.cells[1].outputs[0]["text"] == \
        expected_draws(other) != printed[0]
    captured = runner(tmp_path, sandbox_host).run(nb_drawn_twice, twice_path, captures=capture_plan)
    assert captured.evidence.captures["x"].error is None
    assert captured.notebook.cells[2].outputs[0]["text"] == expected_draws(nb_drawn_twice)


def test_a_librarys_import_draws_nothing_from_the_notebooks_streams_and_the_students_own_module_does(tmp_path):
    """fastai's import draws from Python's generator: imported in a cell of a cold kernel, after the seed, it must
    leave the streams as a warm kernel's server leaves them (it imported fastai before the seed)."""
    import random

    (tmp_path / "helpers.py").write_text("import random\nFIRST = random.random()  # the student's code draws\n")
    nb, _ = notebook(tmp_path, "import helpers\nfrom fastai.vision.all import *", DRAWS)
    printed = runner(tmp_path, None).run(nb, tmp_path).notebook.cells[2].outputs[0]["text"]  # the folder, helpers too
    stream = random.Random(execute.kernel_seed(nb))
    stream.random()  # helpers.FIRST
    assert printed.split()[0] == str(stream.random())
    assert printed.split()[1:3] == expected_draws(nb).split()[1:3]  # numpy's and torch's, untouched


def test_a_sandboxed_kernel_loads_weights_and_data_from_the_read_only_asset_cache(tmp_path, sandbox_host,
                                                                                   warm_kernels, cache_dir):
    """`vision_learner(dls, resnet34)` and `untar_data` with no network: the cache is bound read-only."""
    import torch

    from grader.assets import CATALOG, assets_root

    weights = assets_root(cache_dir) / CATALOG["resnet34"].path
    expected = float(torch.load(weights, weights_only=True)["conv1.weight"].sum())
    nb, path = notebook(
        tmp_path,
        "import os, torch, torchvision\nfrom fastai.vision.all import untar_data, URLs\n"
        "model = torchvision.models.resnet34(weights='IMAGENET1K_V1')\nprint(float(model.conv1.weight.sum()))",
        "print(sorted(p.name for p in untar_data(URLs.MNIST_SAMPLE).iterdir()))",
        "open(os.environ['TORCH_HOME'] + '/planted', 'w')",
    )
    execution = NotebookRunner(cell_timeout_s=120, notebook_timeout_s=300, cache_dir=cache_dir, sandbox=sandbox_host,
                               warm=warm_kernels).run(nb, path)
    assert statuses(execution) == [(2, "ok", None), (3, "ok", None),
                                   (4, "error", "OSError: [Errno 30] Read-only file system: '/sandbox/assets/torch/planted'")]
    printed = [[o["text"] for o in cell.get("outputs", []) if o.get("name") == "stdout"] for cell in execution.notebook.cells]
    assert float(printed[1][0]) == pytest.approx(expected, rel=1e-6)
    assert printed[2] == ["['labels.csv', 'train', 'valid']\n"]
