"""Build probe evidence by hand, for checks tested without a kernel."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from grader.evidence.model import (CamInputEvent, DataLoadersEvent, Evidence, FitEvent, ForwardEvent, ImshowEvent,
                                   LearnerEvent, ModuleInfo, ProbeEvent, StepEvent)

# Probe runs of the midterm solution's Problem 1 answer cells (1.1 … 1.4), the imports being run 1.
PROBLEM_1_RUNS = {"1.1": 2, "1.2": 3, "1.3": 4, "1.4": 5}


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

    def modules_of(self, network, run: int) -> str:
        """Module events for a real torch network, as the probe registers them; returns the root's key."""
        children = [self.modules_of(child, run) for child in network.children()]
        key = f"m{len(self.evidence.modules) + 1}"
        self.evidence.add(ModuleInfo.model_validate({
            "event": "module", "key": key, "class": type(network).__name__, "module": type(network).__module__,
            "repr": network.extra_repr(), "params": [], "total_params": sum(p.numel() for p in network.parameters()),
            "children": children, "seq": self._next(), "run": run}))
        return key

    def problem_1(self, classes: tuple[str, str] = ("circle", "square"), per_class: int = 30) -> "Builder":
        """The course's Problem 1: from_folder, a resnet34 learner trained one epoch, and its einsum CAM
        (GAP + linear head) drawn over the image it was fed."""
        model, arrays = _course_cam()
        runs = PROBLEM_1_RUNS
        self.evidence.add(DataLoadersEvent(
            event="dataloaders", key="d1", source="from_folder", path="images", vocab=list(classes), train=48,
            valid=12, class_counts={c: per_class for c in classes}, item_size=[160, 160], seq=self._next(),
            run=runs["1.2"]))
        model_key = self.modules_of(model, runs["1.3"])
        self.evidence.add(LearnerEvent(event="learner", key="l1", model=model_key, dls="d1", loss="CrossEntropyLossFlat",
                                       seq=self._next(), run=runs["1.3"]))
        self.evidence.add(FitEvent(event="fit", learner="l1", model=model_key, epochs_requested=1, epochs=1,
                                   names=["train_loss", "valid_loss", "error_rate"], values=[[0, 0.6, 0.5, 0.25]],
                                   error=None, seq=self._next(), run=runs["1.3"]))
        names = {}
        for name, array in {"image": arrays.pop("image"), "heatmap": arrays.pop("heatmap"), **arrays}.items():
            names[name] = f"a{len(self.evidence.arrays) + 1}"
            self.evidence.arrays[names[name]] = array
        for name, shape, alpha, extent in (("image", [160, 160, 3], None, [-0.5, 159.5, 159.5, -0.5]),
                                           ("heatmap", [5, 5], 0.7, [0, 159, 159, 0])):
            self.evidence.add(ImshowEvent(event="imshow", axes="x1", array=names[name], shape=shape, subsampled=1,
                                          alpha=alpha, cmap="magma", extent=extent, seq=self._next(), run=runs["1.4"]))
        self.evidence.add(CamInputEvent(
            event="cam_input", model=model_key, fed_in_run=runs["1.4"], seq=self._next(), run=runs["1.4"],
            arrays={name: names[name] for name in ("input", "features", "grads", "logits", "last_linear")}))
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
    return b.problem_1().evidence


@lru_cache(maxsize=1)
def _course_cam_cached():
    import torch
    import torchvision

    torch.manual_seed(0)
    body = torch.nn.Sequential(*list(torchvision.models.resnet34().children())[:-2])
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(512, 2, bias=False))
    model = torch.nn.Sequential(body, head).eval()
    rng = np.random.default_rng(0)
    image = (rng.random((160, 160, 3)) * 60).astype(np.uint8)
    image[40:100, 50:110] = (230, 40, 40)
    x = torch.tensor(image / 255, dtype=torch.float32).permute(2, 0, 1)[None]
    features = body(x).detach().requires_grad_(True)
    logits = head(features)
    grads = torch.stack([torch.autograd.grad(logits[0, c], features, retain_graph=True)[0][0] for c in range(2)])
    weight = head[2].weight.detach().numpy()
    arrays = {"image": image, "input": x[0].numpy(), "features": features[0].detach().numpy(),
              "grads": grads.numpy(), "logits": logits[0].detach().numpy(), "last_linear": weight}
    arrays["heatmap"] = np.einsum("kc,chw->khw", weight, arrays["features"])[1].astype(np.float32)
    return model, arrays


def _course_cam():
    model, arrays = _course_cam_cached()
    return model, dict(arrays)
