"""Evaluate the rubric's expressions in the kernel after given cells, and put given parameter values in place
before a cell (see grader.captures).

The plan, read once when the probe loads (before any student cell), says
which expressions to evaluate after which cell run. Each result is written as
one ``capture`` event: a numeric value as an array (a line of its own) with its shape, dtype
and Python type; a string as text; a module's parameter count; or a model's
outputs on the grader's inputs. An expression that raises is recorded with
its error. The grader compares; nothing here judges.

A replay of the reference from a student's state (follow-through credit) also sets parameters, known by their
probe keys, to the student's values just before a given cell run, and records an ``injected`` event.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from grader.probe.streams import random_streams_kept

MAX_CAPTURE_ELEMENTS = 4_000_000  # a larger value is recorded by shape and dtype only
MAX_TEXT_CHARS = 2000


# Cell run -> what to evaluate after it; the arrays the plan names, by name; cell run -> {parameter key: array name}
# to put in place before it.
CapturePlan = tuple[dict[int, list[dict[str, str]]], dict[str, np.ndarray], dict[int, dict[str, str]]]


def load_plan(path: str) -> CapturePlan:
    """The plan file and its arrays (named by the plan, in the same folder)."""
    with open(path, encoding="utf-8") as stream:
        document = json.load(stream)
    plan = {int(run): specs for run, specs in document["after_run"].items()}
    before = {int(run): values for run, values in document.get("before_run", {}).items()}
    folder = os.path.dirname(path)
    names = {spec["inputs_array"] for specs in plan.values() for spec in specs if "inputs_array" in spec}
    names |= {name for values in before.values() for name in values.values()}
    arrays = {name: np.load(os.path.join(folder, name), allow_pickle=False) for name in names}
    return plan, arrays, before


class CaptureRunner:
    def __init__(self, recorder: Any, plan: CapturePlan) -> None:
        self.recorder = recorder
        self.after_run, self.inputs, self.before_run = plan

    def on_cell_start(self, info: Any) -> None:
        """Runs after the recorder counted the cell: the values asked for this run go in before its code."""
        values = self.before_run.get(self.recorder.run)
        if not values:
            return
        by_key = {key: ref() for ref, key in self.recorder.params.by_id.values()}
        missing = []
        with torch.no_grad():
            for key, name in values.items():
                param, value = by_key.get(key), torch.from_numpy(self.inputs[name].copy())
                if param is None or tuple(param.shape) != tuple(value.shape):
                    missing.append(key)
                    continue
                param.copy_(value.to(param.device, param.dtype))
        self.recorder.emit({"event": "injected", "keys": sorted(set(values) - set(missing)), "missing": missing})

    def on_cell_end(self, result: Any) -> None:
        self.recorder.evaluating = True  # what the grader evaluates is not what the notebook computed
        try:
            with random_streams_kept():
                self._capture_after(self.recorder.run)
        finally:
            self.recorder.evaluating = False

    def _capture_after(self, run: int) -> None:
        for spec in self.after_run.get(run, []):
            event: dict[str, Any] = {"event": "capture", "id": spec["id"], "what": spec["what"]}
            try:
                event |= getattr(self, f"_{spec['what']}")(spec)
            except Exception as err:  # the student's code is what failed: recorded, never raised into the cell
                event["error"] = f"{type(err).__name__}: {err}".splitlines()[0][:MAX_TEXT_CHARS]
            self.recorder.emit(event)

    def _evaluate(self, expression: str) -> Any:
        # The rubric's expression, in the student's namespace; the grader reads back numbers only.
        return eval(expression, self.recorder.shell.user_ns)  # noqa: S307

    def _value(self, spec: dict[str, str]) -> dict[str, Any]:
        return self._encode(self._evaluate(spec["expression"]))

    def _parameter_count(self, spec: dict[str, str]) -> dict[str, Any]:
        parameters = list(self._evaluate(spec["expression"]).parameters())
        return {"type": "parameters", "total": sum(p.numel() for p in parameters),
                "trainable": sum(p.numel() for p in parameters if p.requires_grad)}

    def _predictions(self, spec: dict[str, str]) -> dict[str, Any]:
        model = self._evaluate(spec["expression"])
        if "inputs_array" in spec:
            inputs = torch.from_numpy(self.inputs[spec["inputs_array"]].copy())
        else:
            inputs = torch.as_tensor(self._evaluate(spec["inputs_expression"]))
        training = model.training if isinstance(model, torch.nn.Module) else None
        if isinstance(model, torch.nn.Module):
            model.eval()  # dropout and batch norm as at inference
        try:
            with torch.no_grad():
                outputs = model(inputs.to(self._device_of(model)))
        finally:
            if training is not None:
                model.train(training)
        if isinstance(outputs, (tuple, list)):  # nn.RNN and friends return (output, hidden)
            outputs = outputs[0]
        return self._encode(outputs)

    def _module_output(self, spec: dict[str, str]) -> dict[str, Any]:
        """The latest module of the class asked for (without one: the latest of a class the notebook wrote that no
        other module holds), evaluated on the grader's inputs as it is now."""
        live = [(int(key[1:]), module) for module_ref, key in self.recorder.modules.by_id.values()
                if (module := module_ref()) is not None]
        wanted = spec.get("module_class")
        if wanted is None:
            held = {id(child) for _, module in live for child in module.children()}
            candidates = [(number, module) for number, module in live
                          if self.recorder.defined_in(type(module)) != "library" and id(module) not in held]
        else:
            candidates = [(number, module) for number, module in live if type(module).__name__ == wanted]
        if not candidates:
            raise LookupError(f"no {wanted or 'network of a class of your own'} exists")
        found = max(candidates, key=lambda entry: entry[0])
        module = found[1]
        inputs = torch.from_numpy(self.inputs[spec["inputs_array"]].copy())
        with torch.no_grad():
            outputs = module(inputs.to(self._device_of(module), self._dtype_of(module)))
        return self._encode(outputs[0] if isinstance(outputs, (tuple, list)) else outputs)

    def _dtype_of(self, module: torch.nn.Module) -> torch.dtype:
        return next((parameter.dtype for parameter in module.parameters()), torch.float32)

    def _device_of(self, model: Any) -> torch.device:
        """Where the model's parameters live; for a plain function, where the notebook's modules live."""
        modules = [model] if isinstance(model, torch.nn.Module) else [
            value for value in self.recorder.shell.user_ns.values() if isinstance(value, torch.nn.Module)]
        for module in modules:
            for parameter in module.parameters():
                return parameter.device
        return torch.device("cpu")

    def _encode(self, value: Any) -> dict[str, Any]:
        kind = type(value).__name__
        if isinstance(value, str):
            return {"type": kind, "text": value[:MAX_TEXT_CHARS]}
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).removeprefix("torch.")
            value = value.detach()
            if value.is_complex():
                return {"type": kind, "shape": list(value.shape), "dtype": dtype}
            if value.dtype == torch.bfloat16 or value.dtype == torch.float16:
                value = value.float()
            array = value.cpu().numpy() if value.numel() <= MAX_CAPTURE_ELEMENTS else None
            shape = list(value.shape)
        else:
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"a {kind} is not a number, array or tensor")
            dtype, shape = str(array.dtype), list(array.shape)
            if array.size > MAX_CAPTURE_ELEMENTS:
                array = None
        encoded: dict[str, Any] = {"type": kind, "shape": shape, "dtype": dtype}
        if array is not None:
            encoded["array"] = self.recorder.save_array(array)
        return encoded
