"""The runner on tiny notebooks: every failure mode keeps what ran before it."""

from __future__ import annotations

import nbformat
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


KERNELS = ["sandboxed-cold", "sandboxed-warm", "no-sandbox-cold", "no-sandbox-warm"]


@pytest.fixture(params=KERNELS)
def kernels(request, sandbox_host):
    """(sandbox, warm kernels) for each way a kernel can start."""
    sandboxed, start = request.param.rsplit("-", 1)
    sandbox = sandbox_host if sandboxed == "sandboxed" else None
    if start == "cold":
        return sandbox, None
    return sandbox, request.getfixturevalue("warm_kernels" if sandbox else "unsandboxed_warm_kernels")


def statuses(execution):
    return [(cell.cell, cell.status, cell.error) for cell in execution.cells]


def test_errors_and_timeouts_do_not_stop_the_notebook_and_a_dead_kernel_keeps_the_evidence(tmp_path, kernels):
    nb, path = notebook(
        tmp_path,
        "import torch\nw = torch.nn.Parameter(torch.tensor([1.0, 2.0]))\nopt = torch.optim.SGD([w], lr=0.5)",
        "(w ** 2).sum().backward()\nopt.step()\nprint(w.data)",
        "1/0",
        "",
        "while True:\n    pass",
        "import sys; print('still here', file=sys.stderr)",
        "import os; os._exit(3)",
        "print('never')",
    )
    sandbox, warm = kernels
    execution = runner(tmp_path, sandbox, cell=3, warm=warm).run(nb, path)
    assert statuses(execution) == [
        (2, "ok", None), (3, "ok", None), (4, "error", "ZeroDivisionError: division by zero"),
        (6, "timeout", "stopped after the 3 s limit per cell"), (7, "ok", None),
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
    nb, path = notebook(tmp_path, "import time; time.sleep(2)", "time.sleep(5)", "print(1)")
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
