"""Records evidence from inside the kernel as JSON lines (never pickle).

Events, one JSON object per line, each with ``seq`` (global order) and
``run`` (the ordinal of the cell run it happened in; 0 before the first cell):

- ``probe``: the recorder started (format version, torch version).
- ``cell``: a cell started running (``run`` counts pre_run_cell events, so the
  k-th event is the k-th code cell the grader sent).
- ``module``: a torch module seen for the first time (class, parameter shapes, its
  class's bases and where each was written: the notebook, the submission's files, a library).
- ``forward``: a module's output, for modules whose output is small; the first
  forward of a module also has its input.
- ``params``: at each cell's end, the value and gradient of small parameters
  that changed during the cell (gradients printed without an update count too).
- ``step``: one ``optimizer.step()``: class, hyper-parameters, and for each
  parameter its value before, its gradient and its value after.
- ``overflow``: a cap was reached; later events of that kind are counted only.
- ``fitted``: what a cell's last update was fitted to (grader.probe.fitting).
- ``array``: an array another event names (``a1``, ``a2``, …), written just before that event
  (grader.probe.protocol.array_line).

Tensors are written as plain lists when small and summarised otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from typing import Any

import numpy as np
import torch
from torch.nn.modules.module import register_module_forward_hook
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from grader.probe.encode import FULL_TENSOR_LIMIT, encode_float, encode_tensor
from grader.probe.fitting import FittingRecorder
from grader.probe.protocol import FORMAT_VERSION, array_line
from grader.probe.captures import CapturePlan, CaptureRunner
from grader.probe.vision import VisionRecorder

_dumps = json.dumps
_os_write = os.write


def _write_all(fd: int, data: bytes) -> None:
    # One event is one line, written whole, so a crash leaves at most a partial last line.
    while data:
        data = data[_os_write(fd, data):]


FORWARDS_PER_MODULE = 200
STEPS_PER_OPTIMIZER = 1000


class _Keys:
    """Stable short keys ("m1", "o2", "p3") for live objects, without keeping them alive."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        self.by_id: dict[int, tuple[weakref.ref, str]] = {}

    def get(self, obj: object) -> str | None:
        entry = self.by_id.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        return None

    def add(self, obj: object) -> str:
        self.count += 1
        key = f"{self.prefix}{self.count}"
        self.by_id[id(obj)] = (weakref.ref(obj), key)
        return key


class Recorder:
    def __init__(self, shell: Any, path: str, plan: CapturePlan | None = None) -> None:
        """plan: what to evaluate after which cell run (see grader.probe.captures)."""
        self.shell = shell
        # A raw descriptor and functions bound now: student code that later replaces
        # json.dumps or a file's write() cannot rewrite what the probe records.
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.seq = 0
        self.run = 0
        self.modules = _Keys("m")
        self.params = _Keys("p")
        self.optimizers = _Keys("o")
        self.forward_counts: dict[str, int] = {}
        self.evaluating = False  # the rubric's captures are running (grader.probe.captures)
        self.folder = os.path.realpath(os.getcwd())  # the submission's folder: classes from its files are the student's
        self.step_counts: dict[str, int] = {}
        self.pending_steps: dict[int, list[dict[str, Any]]] = {}
        self.param_states: dict[str, tuple] = {}  # version counters at the last snapshot
        self.array_count = 0
        self.vision = VisionRecorder(self)
        self.fitting = FittingRecorder(self)
        self.captures = CaptureRunner(self, plan) if plan is not None else None

    def install(self) -> None:
        self.emit({"event": "probe", "version": FORMAT_VERSION, "torch": torch.__version__})
        self.shell.events.register("pre_run_cell", self.on_cell_start)
        self.shell.events.register("post_run_cell", self.on_cell_end)
        register_module_forward_hook(self.on_forward)
        register_optimizer_step_pre_hook(self.before_step)
        register_optimizer_step_post_hook(self.after_step)
        self.vision.install()
        self.fitting.install()
        if self.captures is not None:  # after the recorder's own handlers: the run is counted, the cell recorded
            self.shell.events.register("pre_run_cell", self.captures.on_cell_start)
            self.shell.events.register("post_run_cell", self.captures.on_cell_end)

    def emit(self, event: dict[str, Any]) -> None:
        self.seq += 1
        event["seq"] = self.seq
        event["run"] = self.run
        _write_all(self.fd, (_dumps(event, allow_nan=False, separators=(",", ":")) + "\n").encode())

    def save_array(self, array: np.ndarray) -> str:
        """Write an array into the evidence file, numbered like the events, and return its name for an event."""
        self.array_count += 1
        self.seq += 1
        name = f"a{self.array_count}"
        _write_all(self.fd, array_line(name, self.seq, self.run, array))
        return name

    # -- cells ---------------------------------------------------------------

    def on_cell_start(self, info: Any) -> None:
        self.run += 1
        self.emit({"event": "cell"})

    def on_cell_end(self, result: Any) -> None:
        # Modules that were built but never called still count as the student's answer.
        for value in list(self.shell.user_ns.values()):
            if isinstance(value, torch.nn.Module) and self.modules.get(value) is None:
                self.register_module(value)
        self.snapshot_params()
        self.fitting.on_cell_end()

    def snapshot_params(self) -> None:
        changed = []
        with torch.no_grad():
            for param_ref, key in list(self.params.by_id.values()):
                param = param_ref()
                if param is None or param.numel() > FULL_TENSOR_LIMIT:
                    continue
                # Version counters change on every in-place write; `.data =` swaps the storage.
                grad = param.grad
                state = (param.data_ptr(), param._version,
                         None if grad is None else (grad.data_ptr(), grad._version))
                if self.param_states.get(key) == state:
                    continue
                self.param_states[key] = state
                changed.append({"key": key, "value": encode_tensor(param),
                                "grad": None if param.grad is None else encode_tensor(param.grad)})
        if changed:
            self.emit({"event": "params", "params": changed})

    # -- modules ---------------------------------------------------------------

    def register_module(self, module: torch.nn.Module) -> str:
        key = self.modules.get(module)
        if key is not None:
            return key
        key = self.modules.add(module)
        params = []
        for name, param in module.named_parameters(recurse=False):
            params.append({"name": name, "key": self.param_key(param), "shape": list(param.shape)})
        self.emit({
            "event": "module",
            "key": key,
            "class": type(module).__name__,
            "module": type(module).__module__,
            "classes": self.class_chain(type(module)),
            "repr": module.extra_repr(),
            "params": params,
            "total_params": sum(p.numel() for p in module.parameters()),
            "children": [self.register_module(child) for child in module.children()],
        })
        return key

    def class_chain(self, cls: type) -> list[dict[str, str]]:
        """The module's class and its bases up to torch.nn.Module: each one's full name and where it was written
        (the notebook, a file of the submission, or a library), so the grader can tell subclasses and own classes."""
        chain = []
        for klass in cls.__mro__:
            if klass is torch.nn.Module or klass is object:
                break
            chain.append({"name": f"{klass.__module__}.{klass.__qualname__}", "defined_in": self.defined_in(klass)})
        return chain

    def defined_in(self, cls: type) -> str:
        if cls.__module__ == "__main__":
            return "notebook"
        file = getattr(sys.modules.get(str(cls.__module__)), "__file__", None)
        if isinstance(file, str) and os.path.realpath(file).startswith(self.folder + os.sep):
            return "submission"
        return "library"

    def param_key(self, param: torch.Tensor) -> str:
        return self.params.get(param) or self.params.add(param)

    def on_forward(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        if self.vision.analysing or self.evaluating:  # the probe's own passes through a model record nothing
            return
        self.vision.on_forward(module, inputs)
        self.fitting.on_forward(module, inputs, output)
        if not isinstance(output, torch.Tensor) or output.numel() > FULL_TENSOR_LIMIT:
            return
        key = self.register_module(module)
        count = self.forward_counts.get(key, 0) + 1
        self.forward_counts[key] = count
        if count <= FORWARDS_PER_MODULE:
            event = {"event": "forward", "module": key, "output": encode_tensor(output)}
            first_input = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if count == 1 and first_input is not None and first_input.numel() <= FULL_TENSOR_LIMIT:
                event["input"] = encode_tensor(first_input)  # what a network that never ran is evaluated on
            self.emit(event)
        elif count == FORWARDS_PER_MODULE + 1:
            self.emit({"event": "overflow", "what": "forward", "module": key})

    # -- optimizers ------------------------------------------------------------

    def before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        key = self.optimizers.get(optimizer) or self.optimizers.add(optimizer)
        count = self.step_counts.get(key, 0) + 1
        self.step_counts[key] = count
        if count > STEPS_PER_OPTIMIZER:
            if count == STEPS_PER_OPTIMIZER + 1:
                self.emit({"event": "overflow", "what": "step", "optimizer": key})
            return
        with torch.no_grad():
            self.pending_steps[id(optimizer)] = [
                {
                    "key": self.param_key(param),
                    "shape": list(param.shape),
                    "before": encode_tensor(param),
                    "grad": None if param.grad is None else encode_tensor(param.grad),
                }
                for group in optimizer.param_groups
                for param in group["params"]
            ]

    def after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        records = self.pending_steps.pop(id(optimizer), None)
        if records is None:
            return
        params = [param for group in optimizer.param_groups for param in group["params"]]
        with torch.no_grad():
            for record, param in zip(records, params):
                record["after"] = encode_tensor(param)
                record["state_step"] = _state_step(optimizer.state.get(param, {}))
        self.fitting.after_step(self.optimizers.get(optimizer))
        self.emit({
            "event": "step",
            "optimizer": self.optimizers.get(optimizer),
            "class": type(optimizer).__name__,
            "hyper": _hyperparameters(optimizer.param_groups[0]) if optimizer.param_groups else {},
            "params": records,
        })


def _state_step(state: dict[str, Any]) -> int | None:
    step = state.get("step")
    if step is None:
        return None
    return int(step.item() if isinstance(step, torch.Tensor) else step)


def _hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for name, value in group.items():
        if name == "params":
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (bool, int, str)) or value is None:
            plain[name] = value
        elif isinstance(value, float):
            plain[name] = encode_float(value)
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
            plain[name] = [encode_float(float(v)) for v in value]
    return plain
