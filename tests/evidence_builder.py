"""Build probe evidence by hand, for checks tested without a kernel."""

from __future__ import annotations

from grader.evidence.model import Evidence, ForwardEvent, ModuleInfo, ProbeEvent, StepEvent


class Builder:
    def __init__(self) -> None:
        self.evidence = Evidence(probe=ProbeEvent(event="probe", version=2, torch="test", seq=0, run=0))
        self.seq = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def linear(self, key: str = "m1", shape: tuple = (1, 2), bias: bool = False, run: int = 1) -> "Builder":
        params = [{"name": "weight", "key": "p1", "shape": list(shape)}]
        if bias:
            params.append({"name": "bias", "key": "p2", "shape": [shape[0]]})
        self.evidence.add(ModuleInfo.model_validate({
            "event": "module", "key": key, "class": "Linear", "module": "torch.nn.modules.linear",
            "repr": f"in_features={shape[1]}, out_features={shape[0]}, bias={bias}", "params": params,
            "total_params": shape[0] * shape[1] + (shape[0] if bias else 0), "children": [],
            "seq": self._next(), "run": run}))
        return self

    def forward(self, values: list[float], module: str = "m1", run: int = 1) -> "Builder":
        self.evidence.add(ForwardEvent.model_validate({
            "event": "forward", "module": module, "seq": self._next(), "run": run,
            "output": {"shape": [len(values), 1], "dtype": "float32", "data": values}}))
        return self

    def step(self, optimizer: str, cls: str, lr: float, before: list[float], grad: list[float], after: list[float],
             run: int = 1, state_step: int | None = None) -> "Builder":
        def tensor(values):
            return {"shape": [1, len(values)], "dtype": "float32", "data": values}
        self.evidence.add(StepEvent.model_validate({
            "event": "step", "optimizer": optimizer, "class": cls, "hyper": {"lr": lr}, "seq": self._next(), "run": run,
            "params": [{"key": "p1", "shape": [1, len(before)], "before": tensor(before), "grad": tensor(grad),
                        "after": tensor(after), "state_step": state_step}]}))
        return self


def reference() -> Evidence:
    """Two phases like the midterm's: Adam for 3 updates, then SGD for 2."""
    b = Builder().linear().forward([-5.0, 5.0])
    w = [-5.0, 10.0]
    for n in range(3):
        after = [w[0] + 0.1, w[1] - 0.1]
        b.step("o1", "Adam", 0.1, w, [-15.0 + n, 14.0 - n], after, run=2)
        w = after
    for n in range(2):
        after = [w[0] + 1.0, w[1] - 1.0]
        b.step("o2", "SGD", 0.2, w, [-5.0, 5.0], after, run=3)
        w = after
    return b.evidence
