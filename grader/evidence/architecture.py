"""What a recorded network is, told from its structure and parameter count, never from a name.

A torchvision ResNet body (as fastai's `vision_learner` cuts it, or the whole
torchvision model) is a stem - Conv2d, BatchNorm2d, ReLU, MaxPool2d - followed
by four stages of residual blocks. The depth is fixed by the block kind and
how many blocks each stage has; the parameter count of the stem and stages
must then match torchvision's exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.evidence.model import Evidence, ModuleInfo

STEM = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
# (block class, blocks per stage) -> name, parameters of stem + four stages (torchvision's counts).
RESNETS: dict[tuple[str, tuple[int, ...]], tuple[str, int]] = {
    ("BasicBlock", (2, 2, 2, 2)): ("resnet18", 11_176_512),
    ("BasicBlock", (3, 4, 6, 3)): ("resnet34", 21_284_672),
    ("Bottleneck", (3, 4, 6, 3)): ("resnet50", 23_508_032),
    ("Bottleneck", (3, 4, 23, 3)): ("resnet101", 42_500_160),
    ("Bottleneck", (3, 8, 36, 3)): ("resnet152", 58_143_808),
}


@dataclass(frozen=True)
class Architecture:
    name: str  # "resnet34", or "unknown"
    body: str | None  # module key of the convolutional body
    body_params: int
    total_params: int

    def describe(self) -> str:
        if self.name == "unknown":
            return f"an unrecognised network ({self.total_params:,} parameters)"
        return f"{self.name} ({self.body_params:,} parameters in the convolutional body)"


def identify(evidence: Evidence, model_key: str) -> Architecture:
    """The architecture of the recorded module `model_key`: the first ResNet body found in it."""
    model = evidence.modules[model_key]
    for module in _walk(evidence, model):
        found = _resnet(evidence, module)
        if found is not None:
            return Architecture(name=found, body=module.key, body_params=_stem_and_stages_params(evidence, module),
                                total_params=model.total_params)
    return Architecture(name="unknown", body=None, body_params=0, total_params=model.total_params)


def _walk(evidence: Evidence, root: ModuleInfo):
    stack = [root]
    while stack:
        module = stack.pop(0)
        yield module
        stack.extend(evidence.modules[key] for key in module.children if key in evidence.modules)


def _stages(evidence: Evidence, module: ModuleInfo) -> list[ModuleInfo] | None:
    if any(key not in evidence.modules for key in module.children):
        return None
    children = [evidence.modules[key] for key in module.children]
    classes = [child.class_ for child in children]
    if classes[:4] != STEM or len(children) < 8 or any(c != "Sequential" for c in classes[4:8]):
        return None
    return children


def _resnet(evidence: Evidence, module: ModuleInfo) -> str | None:
    children = _stages(evidence, module)
    if children is None:
        return None
    stages = children[4:8]
    kinds = {evidence.modules[key].class_ for stage in stages for key in stage.children}
    if len(kinds) != 1:
        return None
    counts = tuple(len(stage.children) for stage in stages)
    known = RESNETS.get((kinds.pop(), counts))
    if known is None:
        return None
    name, params = known
    return name if _stem_and_stages_params(evidence, module) == params else None


def _stem_and_stages_params(evidence: Evidence, module: ModuleInfo) -> int:
    children = _stages(evidence, module) or []
    return sum(child.total_params for child in children[:8])
