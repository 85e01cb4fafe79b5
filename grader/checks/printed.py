"""`printed` checks: the item's cells, re-executed, print what the question asks to print.

Either every array the reference prints in the same item appears in the
student's output within tolerance (in any order, any format the parser reads:
`tensor([[…]])`, lists, numpy), or, with `pattern`, the output matches a
regular expression.
"""

from __future__ import annotations

import re

import numpy as np

from grader.checks.captured import fail
from grader.checks.context import ItemContext
from grader.checks.tensor import compare_arrays
from grader.notebook.printed import PrintedArray
from grader.results import CheckResult
from grader.rubric import Tolerance
from grader.rubric.models import PrintedCheck


def check(spec: PrintedCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    if not ctx.output_text.strip():
        return fail(spec, "this item's cells print nothing")
    if spec.pattern is not None:
        if re.search(spec.pattern, ctx.output_text):
            return _passed(spec, {"pattern": spec.pattern})
        shown = f" (/{spec.pattern}/)" if public else ""
        return fail(spec, f"the printed output is not what is asked for{shown}", {"pattern": spec.pattern})
    if not ctx.reference_printed:
        return fail(spec, "the reference solution prints no numbers in this item (see `grader rubric lint`)")
    tolerance = spec.tolerance or ctx.tolerance
    missing = [expected for expected in ctx.reference_printed
               if not any(_same(printed, expected, tolerance) for printed in ctx.printed)]
    detail = {"expected": [expected.text for expected in ctx.reference_printed],
              "got": [printed.text for printed in ctx.printed], "tolerance": tolerance.model_dump()}
    if not missing:
        return _passed(spec, detail)
    if not ctx.printed:
        return fail(spec, "no numbers were printed in this item", detail)
    shown = f": {', '.join(expected.text for expected in missing)}" if public else ""
    return fail(spec, f"{len(missing)} of the {len(ctx.reference_printed)} value(s) asked for were not printed{shown}",
                detail)


def _same(printed: PrintedArray, expected: PrintedArray, tolerance: Tolerance) -> bool:
    """Equal within tolerance, allowing for the rounding of the fewer decimals printed (torch prints 4)."""
    decimals = min(printed.decimals, expected.decimals)
    rounding = Tolerance(rtol=tolerance.rtol, atol=max(tolerance.atol, 0.5 * 10.0 ** -decimals))
    return compare_arrays(_values(printed), _values(expected), rounding, "printed value").ok


def _values(printed: PrintedArray) -> np.ndarray:
    return np.array(printed.values, dtype=np.float64).reshape(printed.shape)


def _passed(spec: PrintedCheck, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                       detail=detail)
