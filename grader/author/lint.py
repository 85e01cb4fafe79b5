"""`grader rubric lint`: is a rubric consistent with its template and its reference solution?

What it checks, each finding naming the file, the item and the key:

- the template and the solution have a place for every item (a question cell,
  and a code cell for items answered with code);
- every check that evaluates or reads something (`value`, `parameter_count`,
  `model_fit`, `printed`, `optimizer_trace`, …) finds it in the reference's run,
  and the reference earns full marks (the grader's own test, run here);
- tolerances are not tighter than the reference's own noise: the solution runs
  several times (and once on a GPU when one is given), and the values every
  numeric check compares are compared between runs;
- hidden items do not leak into the template: no stored outputs, no answer that
  already reads as given, no hidden expected value written into a cell.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import nbformat
import numpy as np

from grader.author.assign import AssignError, read_master, solution_texts, solutions_by_cell, template_source
from grader.captures import capture_id
from grader.evidence.model import Evidence
from grader.notebook.locate import locate
from grader.notebook.printed import parse_printed, printed_by_item
from grader.notebook.truefalse import read_choices, read_true_false
from grader.reference import ReferenceRun, check_reference
from grader.rubric import LoadedRubric, RubricError, Tolerance
from grader.rubric.load import RUBRIC_FILE
from grader.rubric.models import (CAPTURE_KINDS, MAX_OPTION_NUMBER, Check, Item, ModelFitCheck, TrainingCheck,
                                  ValueCheck)

Severity = Literal["error", "warning"]
MIN_LEAK_CHARS = 6  # a shorter solution line ("x = 1") says little and may well be in the template by chance


@dataclass(frozen=True)
class Finding:
    severity: Severity
    where: str  # "rubric.yaml: items[4] (1.3).checks[1] (value `yhat[:8]`).tolerance", "template.ipynb: cell 7"
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclass(frozen=True)
class Noise:
    """How far apart two runs of the reference put the values one check compares."""

    where: str
    runs: str  # "CPU run 1 vs 2", "CPU vs GPU"
    max_abs_diff: float
    tolerance: Tolerance
    within: bool


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    noise: list[Noise] = field(default_factory=list)
    reference_seconds: list[float] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


# A run of the reference solution: (the run, seconds it took). `gpu` picks a GPU run.
RunReference = Callable[[bool], tuple[ReferenceRun, float]]


def lint(rubric: LoadedRubric, run_reference: RunReference, runs: int = 2, gpu: bool = False) -> LintReport:
    """Lint `rubric`, running its reference `runs` times on the CPU and once more on a GPU when `gpu`."""
    report = LintReport()
    report.findings += layout_findings(rubric)
    report.findings += template_leaks(rubric)
    report.findings += master_leaks(rubric)
    report.findings += training_rule_findings(rubric)
    report.findings += void_findings(rubric)
    cpu_runs: list[ReferenceRun] = []
    for _ in range(runs):
        try:
            run, seconds = run_reference(False)
        except RubricError as err:
            report.findings.append(Finding("error", rubric.spec.solution, str(err)))
            return report
        cpu_runs.append(run)
        report.reference_seconds.append(seconds)
    first = cpu_runs[0]
    if first.evidence.device_fallbacks:
        report.findings.append(Finding("warning", rubric.spec.solution, (
            f"its CUDA calls ({first.evidence.device_fallbacks[0].call}) ran on the CPU (--cpu-fallback): the "
            "values are the CPU's, as grading's; the noise of a GPU is measured only with --gpu")))
    report.findings += evidence_findings(rubric, first)
    report.findings += hidden_values_in_template(rubric, first.evidence)
    for number, other in enumerate(cpu_runs[1:], start=2):
        report.noise += noise_between(rubric, first.evidence, other.evidence, f"CPU run 1 vs {number}")
    if gpu:
        try:
            gpu_run, seconds = run_reference(True)
        except RubricError as err:
            report.findings.append(Finding("error", rubric.spec.solution, f"on the GPU: {err}"))
        else:
            report.reference_seconds.append(seconds)
            report.noise += noise_between(rubric, first.evidence, gpu_run.evidence, "CPU vs GPU")
    report.findings += [
        Finding("error", noise.where, f"the tolerance (atol={noise.tolerance.atol:g}, rtol={noise.tolerance.rtol:g}) "
                                      f"is tighter than the reference's own noise: {noise.runs} differ by up to "
                                      f"{noise.max_abs_diff:.3g}")
        for noise in report.noise if not noise.within
    ]
    return report


# -- where each item is answered -------------------------------------------------------------


def layout_findings(rubric: LoadedRubric) -> list[Finding]:
    """Every item has a question cell in the template and the solution, and code items a code cell."""
    findings = []
    ids = [item.id for item in rubric.spec.items]
    solution = nbformat.read(rubric.solution_path, as_version=4)
    for name, nb in ((rubric.spec.template, rubric.template), (rubric.spec.solution, solution)):
        layout = locate(nb, ids)
        for position, item in enumerate(rubric.spec.items):
            cells = layout.regions.get(item.id)
            if not cells:
                findings.append(Finding("error", name, f"no cell starts item {item.id} ({_item_where(position, item)}): "
                                                       f"tag its question cell `question:{item.id}`"))
            elif item.answer_kind == "code" and not any(nb.cells[i].cell_type == "code" for i in cells):
                findings.append(Finding("error", f"{name}: cell {cells[0] + 1}",
                                        f"item {item.id} is answered with code but has no code cell"))
    return findings


# -- what the checks need from the reference's run ------------------------------------------


def evidence_findings(rubric: LoadedRubric, reference: ReferenceRun) -> list[Finding]:
    """Each check finds what it compares in the reference's run, and the reference earns full marks."""
    findings = []
    captures = reference.evidence.captures
    ids = [item.id for item in rubric.spec.items]
    printed = printed_by_item(reference.notebook, locate(reference.notebook, ids))
    for position, item, index, check in _checks(rubric):
        where = _check_where(position, item, index, check)
        if check.kind in CAPTURE_KINDS:
            wanted = [capture_id(item, index)]
            if isinstance(check, ModelFitCheck):
                wanted += [f"{wanted[0]}/inputs", f"{wanted[0]}/targets"]
            for ident in wanted:
                event = captures.get(ident)
                if event is None:
                    findings.append(Finding("error", where, f"the reference did not evaluate it (is there a code cell "
                                                            f"for item {item.id} in {rubric.spec.solution}?)"))
                    break
                if event.error is not None:
                    findings.append(Finding("error", where, f"in the reference, it raises {event.error}"))
                    break
                if isinstance(check, ValueCheck) and check.compare == "value" and event.array is None \
                        and event.text is None:
                    findings.append(Finding("error", where, f"the reference's value is a {event.describe_type()}, "
                                                            "which cannot be compared element-wise"))
        if check.kind == "printed" and check.pattern is None and not printed.get(item.id):
            findings.append(Finding("error", where, "the reference prints no numbers in this item, so there is "
                                                    "nothing to compare the student's prints with"))
    if not any(finding.severity == "error" for finding in findings):
        try:
            check_reference(rubric, reference)
        except RubricError as err:
            findings.append(Finding("error", rubric.spec.solution, str(err).split(": ", 1)[-1]))
    return findings


# -- tolerance against the reference's own noise ----------------------------------------------


def noise_between(rubric: LoadedRubric, first: Evidence, other: Evidence, runs: str) -> list[Noise]:
    """For each numeric check, the largest difference between two runs of the reference."""
    measured = []
    for position, item, index, check in _checks(rubric):
        tolerance = getattr(check, "tolerance", None) or rubric.spec.tolerance
        pairs = list(_compared_values(item, index, check, first, other))
        if not pairs:
            continue
        worst, within = 0.0, True
        for a, b in pairs:
            if a.shape != b.shape:
                worst, within = float("inf"), False
                continue
            difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
            worst = max(worst, float(np.nanmax(difference, initial=0.0)))
            within &= bool(np.isclose(a, b, rtol=tolerance.rtol, atol=tolerance.atol).all())
        where = _check_where(position, item, index, check) + (".tolerance" if hasattr(check, "tolerance") else "")
        measured.append(Noise(where, runs, worst, tolerance, within))
    return measured


def _compared_values(item: Item, index: int, check: Check, first: Evidence,
                     other: Evidence) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if isinstance(check, ValueCheck) and check.compare == "value":
        ident = capture_id(item, index)
        a, b = first.captures.get(ident), other.captures.get(ident)
        if a and b and a.array is not None and b.array is not None:
            yield first.array(a.array), other.array(b.array)
    elif check.kind in ("fitted_values", "reproduces"):
        # What every recorded update was fitted to, in order.
        for fitted_a, fitted_b in zip(first.fitted, other.fitted):
            for a, b in ((fitted_a.loss and fitted_a.loss.input, fitted_b.loss and fitted_b.loss.input),
                         (fitted_a.output and fitted_a.output.value, fitted_b.output and fitted_b.output.value)):
                values_a = a.array() if a is not None else None
                values_b = b.array() if b is not None else None
                if values_a is not None and values_b is not None:
                    yield values_a, values_b
    elif check.kind == "tensor" or (check.kind == "optimizer_trace" and check.compare != "optimizer"):
        # Every recorded update of the two runs, in order: gradients and weights after each step.
        for step_a, step_b in zip(first.steps, other.steps):
            for param_a, param_b in zip(step_a.params, step_b.params):
                for a, b in ((param_a.grad, param_b.grad), (param_a.after, param_b.after)):
                    values_a = a.array() if a is not None else None
                    values_b = b.array() if b is not None else None
                    if values_a is not None and values_b is not None:
                        yield values_a, values_b


# -- hidden answers in the template -----------------------------------------------------------


def template_leaks(rubric: LoadedRubric) -> list[Finding]:
    """Stored outputs, and hidden true/false and choice items that already read as answered in the template."""
    template, name = rubric.template, rubric.spec.template
    findings = [
        Finding("error", f"{name}: cell {index + 1}", "the template keeps stored outputs, which can show answers: "
                                                      "clear them (`grader assign` writes templates without)")
        for index, cell in enumerate(template.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    layout = locate(template, [item.id for item in rubric.spec.items])
    for item in rubric.spec.items:
        if item.answer_kind not in ("true_false", "choice") or any(item.is_public(check) for check in item.checks):
            continue
        # Answer cells only: a question cell states the claim (or lists the options), which is not an answer.
        snippets = [(template.cells[i].cell_type, template.cells[i].source)
                    for i in layout.regions.get(item.id, []) if i != layout.question_cells.get(item.id)]
        if item.answer_kind == "true_false":
            answer = read_true_false(snippets)
            read = str(answer.value)
        else:
            answer = read_choices(snippets, set(item.choice_options or range(1, MAX_OPTION_NUMBER + 1)))
            read = answer.listed
        if answer.status == "answered":
            findings.append(Finding("error", f"{name}: item {item.id}",
                                    f"the template already answers it ({read}, from {answer.source!r}): "
                                    "the key leaks, and an untouched template earns the points"))
    return findings


def master_leaks(rubric: LoadedRubric) -> list[Finding]:
    """Lines of the master's solutions left in the template (`grader assign` strips them; a hand edit may not).
    Lines the master also has outside its solutions are given code, not a leak."""
    if rubric.spec.master is None:
        return []
    path = rubric.folder / rubric.spec.master
    try:
        master = read_master(path)
        solutions = solutions_by_cell(master, path)
    except AssignError as err:
        return [Finding("error", f"{RUBRIC_FILE}: master", str(err))]
    given = {line.strip() for index, cell in enumerate(master.cells)
             for line in template_source(cell.source, cell.cell_type, solutions.get(index, [])).splitlines()}
    secret = {line.strip(): index for index, found in solutions.items()
              for text in solution_texts(master.cells[index].source, found) for line in text.splitlines()
              if len(line.strip()) >= MIN_LEAK_CHARS and line.strip() not in given}
    return [
        Finding("error", f"{rubric.spec.template}: cell {index + 1}",
                f"{line.strip()!r} is part of a solution in {rubric.spec.master} (cell {secret[line.strip()] + 1})")
        for index, cell in enumerate(rubric.template.cells) for line in cell.source.splitlines()
        if line.strip() in secret
    ]


def hidden_values_in_template(rubric: LoadedRubric, reference: Evidence) -> list[Finding]:
    """A hidden value check's expected array written into a template cell (an example output, say)."""
    findings = []
    written = [(index, array) for index, cell in enumerate(rubric.template.cells)
               for array in parse_printed(cell.source) if len(array.values) >= 2]
    for position, item, index, check in _checks(rubric):
        if not isinstance(check, ValueCheck) or item.is_public(check) or check.compare != "value":
            continue
        event = reference.captures.get(capture_id(item, index))
        if event is None or event.array is None:
            continue
        expected = reference.array(event.array).astype(np.float64)
        tolerance = check.tolerance or rubric.spec.tolerance
        for cell, array in written:
            shown = np.array(array.values, dtype=np.float64)
            if shown.size == expected.size and np.isclose(shown, expected.reshape(-1), rtol=tolerance.rtol,
                                                          atol=max(tolerance.atol, 0.5 * 10.0 ** -array.decimals)).all():
                findings.append(Finding("error", f"{rubric.spec.template}: cell {cell + 1}",
                                        f"it shows the expected value of hidden check {check.name!r} of item "
                                        f"{item.id} ({array.text[:60]})"))
    return findings


# -- naming places in rubric.yaml -------------------------------------------------------------


def _checks(rubric: LoadedRubric) -> Iterator[tuple[int, Item, int, Check]]:
    """Every check of the items that are graded (a void item's are not evaluated, so nothing is looked for)."""
    for position, item in enumerate(rubric.spec.items):
        if item.void:
            continue
        for index, check in enumerate(item.checks):
            yield position, item, index, check


def _item_where(position: int, item: Item) -> str:
    return f"{RUBRIC_FILE}: items[{position}] (id {item.id!r})"


def _check_where(position: int, item: Item, index: int, check: Check) -> str:
    subject = next((getattr(check, key) for key in ("expression", "module", "model") if hasattr(check, key)), None)
    label = f"{check.kind} `{subject}`" if subject else f"{check.kind} {check.name!r}"
    return f"{_item_where(position, item)}.checks[{index}] ({label})"


# -- training rules ---------------------------------------------------------------------------


def void_findings(rubric: LoadedRubric) -> list[Finding]:
    """Void items are accepted, and said: graded for no one, with what becomes of their points."""
    return [Finding("warning", _item_where(position, item),
                    f"item {item.id} is void: graded for no one, its {item.check_points:g} point(s) "
                    + ("given to everyone" if item.void_points == "given" else "removed from the total"))
            for position, item in enumerate(rubric.spec.items) if item.void]


def training_rule_findings(rubric: LoadedRubric) -> list[Finding]:
    """A `training` rule's class or module names exist: a misspelt one would match nothing, so a `forbid` rule
    would let every notebook pass. Names without a dot (`RNNCell`) match by class name and are not looked up."""
    findings = []
    for position, item, index, check in _checks(rubric):
        if not isinstance(check, TrainingCheck):
            continue
        for field_name in ("forbid", "require"):
            for rule in getattr(check, field_name):
                for name in (part.strip() for part in rule.split("|")):
                    if "." in name and not _importable(name):
                        findings.append(Finding("warning", f"{_check_where(position, item, index, check)}.{field_name}",
                                                f"{name!r} is no class or module the grader can import here: "
                                                "misspelt, it matches nothing"))
    return findings


def _importable(name: str) -> bool:
    """`name` is a module, or an attribute path inside one (`torch.nn.RNNCell`)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:  # a module that fails to import for its own reasons says nothing about the name
            return True
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False
