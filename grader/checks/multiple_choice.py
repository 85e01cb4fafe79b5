"""`multiple_choice` checks: the set of option numbers read from the notebook's source, against the key."""

from __future__ import annotations

from collections.abc import Iterable

from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import MultipleChoiceCheck


def check(spec: MultipleChoiceCheck, ctx: ItemContext) -> CheckResult:
    answer = ctx.choice
    key = set(spec.answer)
    detail: dict = {"expected": sorted(key), "key": _listed(key), "scoring": spec.scoring}
    if answer is None or answer.status == "unanswered":
        return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False,
                           message="no answer was found for this item", detail=detail)
    if answer.value is None:
        return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False,
                           message=f"no option numbers could be read from: \u201c{answer.source}\u201d",
                           detail=detail | {"source": answer.source})
    chosen = set(answer.value)
    passed = chosen == key
    message = f"answer read as {answer.listed}"
    if spec.scoring == "per_option" and spec.options is not None:
        right = sum((option in chosen) == (option in key) for option in spec.options)
        points = spec.points * right / len(spec.options)
        message += f": {right} of {len(spec.options)} options right"
    else:
        points = spec.points if passed else 0.0
    missing, wrong = sorted(key - chosen), sorted(chosen - key)
    if ctx.item.is_public(spec) and not passed:
        # Only a public check's verdict may say which options are wrong: that is the key.
        mistakes = ([f"{_listed(missing)} should be chosen too"] if missing else []) + (
            [f"{_listed(wrong)} should not be chosen"] if wrong else [])
        message += f" ({'; '.join(mistakes)})"
    return CheckResult(
        name=spec.name, points=points, max_points=spec.points, passed=passed, message=message,
        detail=detail | {"got": sorted(chosen), "source": answer.source, "missing": missing, "wrong": wrong},
    )


def _listed(numbers: Iterable[int]) -> str:
    return ", ".join(map(str, sorted(numbers)))
