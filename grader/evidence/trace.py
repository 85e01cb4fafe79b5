"""Views of an optimizer trace that checks compare between student and reference.

A *phase* is a run of consecutive updates of the same parameters by
optimizers of one class (Adam for five updates, then SGD for ten). Several
optimizer objects can share a phase - a re-created Adam continues the phase
but not the optimizer - which is what `same_optimizer` checks look at.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.evidence.model import Evidence, ForwardEvent, ModuleInfo, StepEvent


@dataclass(frozen=True)
class Phase:
    number: int  # 1-based position in the trace
    optimizer_class: str
    steps: tuple[StepEvent, ...]

    @property
    def optimizers(self) -> list[str]:
        """Distinct optimizer objects, in the order they first stepped."""
        return list(dict.fromkeys(step.optimizer for step in self.steps))

    def step(self, position: int | str) -> StepEvent | None:
        if position == "last":
            return self.steps[-1]
        assert isinstance(position, int)
        return self.steps[position - 1] if position <= len(self.steps) else None


def phases(evidence: Evidence) -> list[Phase]:
    runs: list[list[StepEvent]] = []
    for step in evidence.steps:
        previous = runs[-1][-1] if runs else None
        if previous is not None and previous.class_ == step.class_ and _param_keys(previous) == _param_keys(step):
            runs[-1].append(step)
        else:
            runs.append([step])
    return [Phase(number, run[0].class_, tuple(run)) for number, run in enumerate(runs, start=1)]


def _param_keys(step: StepEvent) -> tuple[str, ...]:
    return tuple(param.key for param in step.params)


def match_phases(reference: list[Phase], student: list[Phase]) -> dict[int, Phase | None]:
    """For each reference phase, the student's phase that answers it.

    In order: the first later student phase with the same optimizer class,
    else the next student phase (a wrong optimizer still answers the question
    it was written for). Extra student phases stay unmatched.
    """
    matched: dict[int, Phase | None] = {}
    start = 0
    for ref in reference:
        rest = student[start:]
        pick = next((phase for phase in rest if phase.optimizer_class == ref.optimizer_class), None)
        if pick is None and rest:
            pick = rest[0]
        matched[ref.number] = pick
        if pick is not None:
            start = pick.number  # phases are numbered from 1, so this is the index after `pick`
    return matched


def owning_module(evidence: Evidence, param_key: str) -> ModuleInfo | None:
    """The module that holds the parameter itself (a Linear, not the Sequential around it)."""
    for module in evidence.modules.values():
        if any(param.key == param_key for param in module.params):
            return module
    return None


def trained_module(evidence: Evidence, phase: Phase | None) -> ModuleInfo | None:
    if phase is None:
        return None
    for param in phase.steps[0].params:
        module = owning_module(evidence, param.key)
        if module is not None:
            return module
    return None


def last_output_before(evidence: Evidence, module_key: str, seq: int | None) -> ForwardEvent | None:
    """The module's last recorded output before event `seq` (or at all, when None)."""
    found = None
    for forward in evidence.forwards:
        if forward.module != module_key:
            continue
        if seq is not None and forward.seq > seq:
            break
        found = forward
    return found
