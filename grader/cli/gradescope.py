"""`grader gradescope build|results`: the autograder zip Gradescope runs, and the results.json it reads back
(grader/export/gradescope_build.py and gradescope.py do the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grader.cli.common import fail
from grader.export.gradescope import (
    GradescopeError,
    Lateness,
    read_submission_metadata,
    with_gradescope_lateness,
    write_gradescope_results,
)
from grader.export.gradescope_build import (
    LATENESS,
    BuildError,
    autograder_points,
    build_autograder,
    graded_by_ta,
)
from grader.gradebook import Gradebook
from grader.paths import GRADEBOOK_FILE
from grader.rubric import RubricError, load_rubric

gradescope_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                             help="Grade on Gradescope: build the autograder zip, write Gradescope's results.json.")
console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)  # text; markup only where asked


@gradescope_app.command()
def build(
    rubric_dir: Annotated[Path, typer.Argument(help="Rubric folder (rubric.yaml, template, solution).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The zip to write, e.g. autograder.zip \\[required].",
                                                show_default=False)] = None,
    problems: Annotated[Optional[str], typer.Option(
        help="Problems graded on Gradescope, e.g. 2,3; the other items are left out of the rubric. "
             "Default: the rubric's gradescope.problems, else all.")] = None,
    wheel: Annotated[Optional[Path], typer.Option(help="A wheel of the grader to install instead of this "
                                                       "checkout's source.")] = None,
    late: Annotated[Optional[str], typer.Option(
        "--late", help="rubric: apply the rubric's late policy, timed by Gradescope's submission metadata; "
                       "gradescope: deduct nothing for lateness and say so. Default: the rubric's gradescope.late, "
                       "else rubric.", show_default=False)] = None,
) -> None:
    """Write the autograder zip: setup.sh, run_autograder, the restricted rubric and the grader."""
    if out is None:  # no default: a zip of another exam in the current folder would be replaced
        raise fail("`grader gradescope build` needs --out FILE: the autograder zip to write, e.g. --out autograder.zip")
    try:
        loaded = load_rubric(rubric_dir)
        chosen = (parse_problems(problems, loaded.spec.problems) if problems is not None else
                  set(loaded.spec.gradescope.problems or loaded.spec.problems))
        if wheel is not None and not (wheel.is_file() and wheel.suffix == ".whl"):
            raise BuildError(f"--wheel {wheel}: expected a wheel file (*.whl)")
        lateness = _lateness(late) if late is not None else loaded.spec.gradescope.late
        restricted, members = build_autograder(out, loaded, chosen, wheel, lateness)
    except (RubricError, BuildError) as err:
        raise fail(str(err)) from None
    spec = restricted.spec
    manual = [item for item in spec.items if graded_by_ta(item)]
    console.print(f"wrote {out} ({len(members)} files): Problem(s) {', '.join(map(str, sorted(chosen)))}, "
                  f"{len(spec.items)} items, {spec.total:g} points", highlight=False)
    points = f"give the autograder {autograder_points(spec):g} points (its tests' max_score add up to that)"
    if manual:
        points = (f"graded by a TA in Gradescope: {', '.join(f'{item.id} ({item.points:g})' for item in manual)} "
                  f"(add a manual grading question for them); {points}")
    console.print(points, highlight=False)
    console.print("lateness: " + ("left to Gradescope (the autograder deducts nothing)" if lateness == "gradescope"
                                  else "the rubric's late policy, timed by Gradescope's submission metadata"),
                  highlight=False)


@gradescope_app.command()
def results(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `grader grade` holding one graded submission.")],
    to: Annotated[Path, typer.Option("--to", help="The results.json to write (on Gradescope: "
                                                 "/autograder/results/results.json).")],
    submission_metadata: Annotated[Optional[Path], typer.Option(
        "--metadata", help="Gradescope's submission_metadata.json: when it was submitted, and the assignment's due "
                           "date.")] = None,
    late: Annotated[str, typer.Option("--late", help="With --metadata: rubric (apply the rubric's late policy) or "
                                                     "gradescope (deduct nothing, say so).")] = "rubric",
) -> None:
    """Write Gradescope's results.json for the one submission graded into OUT_DIR."""
    try:
        lateness = _lateness(late)
    except BuildError as err:
        raise fail(str(err)) from None
    path = out_dir / GRADEBOOK_FILE
    if not path.is_file():
        raise fail(f"no gradebook at {path}; run `grader grade … --out {out_dir}` first")
    with Gradebook(path) as book:
        rubric = book.rubric()
        graded = book.results()
    if rubric is None:
        raise fail(f"{path} holds no rubric: no submission was graded into it")
    if len(graded) != 1:
        raise fail(f"{path} holds {len(graded)} submissions ({', '.join(r.student for r in graded) or 'none'}); "
                    "expected exactly one: Gradescope grades one submission at a time")
    result = graded[0]
    if submission_metadata is not None:
        try:
            result = with_gradescope_lateness(result, rubric.late, read_submission_metadata(submission_metadata),
                                              lateness)
        except GradescopeError as err:
            raise fail(str(err)) from None
    write_gradescope_results(to, rubric, result)
    console.print(f"wrote {to}: {result.total:g}/{result.max:g} points"
                  + (f" ({result.late_note})" if result.late_note else ""), highlight=False)


def parse_problems(text: str, available: list[int]) -> set[int]:
    try:
        problems = {int(part) for part in text.split(",")}
    except ValueError:
        raise BuildError(f"--problems {text}: expected problem numbers separated by commas, e.g. 2,3") from None
    unknown = sorted(problems - set(available))
    if unknown:
        raise BuildError(f"--problems {text}: the rubric has no Problem {', '.join(map(str, unknown))}; "
                         f"it has {', '.join(map(str, available))}")
    return problems


def _lateness(text: str) -> Lateness:
    """`--late`'s value as one of Gradescope's two ways with lateness."""
    for choice in LATENESS:
        if text == choice:
            return choice
    raise BuildError(f"--late {text}: expected {' or '.join(LATENESS)}")
