"""Views of how a result was trained: which parameters the optimizers updated, who owns them, and what the
updates were fitted to. Checks of training rules, fitted values and follow-through read these.

A parameter *belongs to* a class when the module that holds it, or any module around that one, is an instance
of the class (the probe records each module's class and its bases): the weights of a `Linear` inside the
notebook's own `Net` belong to `torch.nn.Linear` and to `Net`. A parameter no recorded module holds is a bare
tensor (`torch.randn(3, requires_grad=True)` handed to the optimizer).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from grader.evidence.model import ClassInfo, Evidence, FittedEvent, ModuleInfo, StepEvent

OWN_CLASS = "own_class"  # a rule's word for a class written by the student (the notebook or the submission's files)
TENSOR = "tensor"  # a rule's word for a bare tensor
TORCH_MODULES = re.compile(r"^torch\.nn\.modules\.\w+\.")  # where torch.nn's classes live; torch.nn exports them


@dataclass(frozen=True)
class TrainedParameter:
    key: str
    shape: tuple[int, ...]
    optimizer: str  # the class of the optimizer that first updated it
    holder: ModuleInfo | None  # the module whose own parameter it is; None for a bare tensor
    name: str  # its name in the holder (`weight_ih`), or "" for a bare tensor
    around: tuple[ModuleInfo, ...]  # the modules around the holder, innermost first

    @property
    def modules(self) -> tuple[ModuleInfo, ...]:
        return ((self.holder,) if self.holder else ()) + self.around

    def classes(self) -> list[ClassInfo]:
        return [info for module in self.modules for info in _classes_of(module)]

    def describe(self, names: str | None = None) -> str:
        """`weight_ih of torch.nn.RNNCell in your class MyRNN`; `names` in place of the parameter's own name."""
        if self.holder is None:
            return f"a tensor of shape {list(self.shape)}"
        return (f"{names or self.name} of {_name_of(self.holder)}"
                + (f" in {_name_of(self.around[-1])}" if self.around else ""))


def trained_parameters(evidence: Evidence, steps: Iterable[StepEvent]) -> list[TrainedParameter]:
    """The parameters `steps` updated (those with a gradient: an optimizer skips the others), each once, in the
    order they were first updated."""
    holders = {param.key: (module, param.name) for module in evidence.modules.values() for param in module.params}
    parents = {child: module for module in evidence.modules.values() for child in module.children}
    seen: dict[str, TrainedParameter] = {}
    for step in steps:
        for param in step.params:
            if param.grad is None or param.key in seen:
                continue
            holder, name = holders.get(param.key, (None, ""))
            around: list[ModuleInfo] = []
            parent = parents.get(holder.key) if holder else None
            while parent is not None and parent not in around:
                around.append(parent)
                parent = parents.get(parent.key)
            seen[param.key] = TrainedParameter(param.key, tuple(param.shape), step.class_, holder, name, tuple(around))
    return list(seen.values())


def belongs_to(parameter: TrainedParameter, rule: str) -> bool:
    """Whether the parameter belongs to `rule`: a class (`torch.nn.RNNCell`, or just `RNNCell`; its subclasses
    too), a module of classes (`torchvision.models`), `own_class` or `tensor`; alternatives separated by '|'."""
    return any(_belongs(parameter, alternative.strip()) for alternative in rule.split("|"))


def _belongs(parameter: TrainedParameter, rule: str) -> bool:
    if rule == TENSOR:
        return parameter.holder is None
    if rule == OWN_CLASS:
        return any(info.own for info in parameter.classes())
    return any(class_matches(info.name, rule) for info in parameter.classes())


def class_matches(full_name: str, rule: str) -> bool:
    """`torch.nn.modules.rnn.RNNCell` is named by `torch.nn.modules.rnn.RNNCell`, by the public `torch.nn.RNNCell`
    (a package that re-exports it), by `RNNCell`, and by its modules `torch.nn` or `torch.nn.modules.rnn`."""
    if full_name == rule or full_name.startswith(rule + "."):
        return True
    module, _, qualname = full_name.rpartition(".")
    rule_module, _, rule_class = rule.rpartition(".")
    return qualname == rule_class and (not rule_module or module == rule_module or module.startswith(rule_module + "."))


def parameter_shapes_within(evidence: Evidence, module: ModuleInfo) -> list[list[int]]:
    """The shapes of every parameter of the module and the modules inside it, sorted (the order layers are held
    in, and their names, differ between equal networks)."""
    shapes, stack, seen = [], [module], set()
    while stack:
        current = stack.pop()
        if current.key in seen:
            continue
        seen.add(current.key)
        shapes += [list(param.shape) for param in current.params]
        stack += [evidence.modules[child] for child in current.children if child in evidence.modules]
    return sorted(shapes)


def is_own(module: ModuleInfo) -> bool:
    """The module's class was written by the student (in the notebook or a file of the submission)."""
    return _classes_of(module)[0].own


def _classes_of(module: ModuleInfo) -> list[ClassInfo]:
    # Evidence from before the probe recorded bases: the class alone, by its module.
    return module.classes or [ClassInfo(name=f"{module.module}.{module.class_}",
                                        defined_in="notebook" if module.module == "__main__" else "library")]


def _name_of(module: ModuleInfo) -> str:
    """`your class Net`, or a library class by its public name (`torch.nn.RNNCell`, not `torch.nn.modules.rnn.…`)."""
    first = _classes_of(module)[0]
    return f"your class {module.class_}" if first.own else TORCH_MODULES.sub("torch.nn.", first.name)


def steps_in(evidence: Evidence, runs: Collection[int]) -> list[StepEvent]:
    return [step for step in evidence.steps if step.run in runs]


def fitted_in(evidence: Evidence, runs: Collection[int]) -> FittedEvent | None:
    """What the last update made in `runs` was fitted to."""
    return next((event for event in reversed(evidence.fitted) if event.run in runs), None)
