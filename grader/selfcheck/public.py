"""The public part of a rubric: all a student's self-check may know.

A released bundle holds it as `rubric.yaml` (marked `released: 1`); `grader
check` given a full rubric folder derives the same thing in memory, so both
give byte-identical self-checks. Hidden checks keep only their kind, name and
points: no expected values, tolerances, thresholds or true/false keys, and no
reference solution. A public check must be one that needs no reference.

Answers are read by comparing a notebook with the template as released, never
with a template a student is editing: the bundle keeps a copy in `.grader/`,
and the public rubric a hash of the template's cells, so that an edited
template is never taken for the exam's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal, Union

import nbformat
from pydantic import Field, ValidationError

from grader.rubric import Item, LoadedRubric, RubricError, load_rubric
from grader.rubric.load import RUBRIC_FILE, describe_errors, read_template, read_yaml
from grader.rubric.models import (CHECK_KINDS, REFERENCE_KINDS, AnswerKind, Check, ChooseAllGroup, Execution,
                                  ReproducesCheck, Rubric, StrictModel, SubmissionFiles, Tolerance)
from grader.run.warm import imports_of
from grader.submission import SELF_CHECK_FOLDER

RELEASE_FORMAT: Final = 1


class PublicCheck(StrictModel):
    """A check the self-check runs, with the same function and settings as grading."""

    visibility: Literal["public"]
    check: Check


class HiddenCheck(StrictModel):
    """A check the self-check only names: its settings stay with the TA."""

    visibility: Literal["hidden"]
    kind: Literal[CHECK_KINDS]  # type: ignore[valid-type]
    name: str
    points: float = Field(gt=0)


ReleasedCheck = Annotated[Union[PublicCheck, HiddenCheck], Field(discriminator="visibility")]


class PublicItem(StrictModel):
    id: str
    title: str
    points: float
    answer_kind: AnswerKind = Field(description="what answering the item means")
    options: list[int] | None = Field(
        default=None, description="choice items: the option numbers offered (not the key), to read answers as "
                                  "grading does")
    needs_execution: bool
    asks_to_print: bool = False
    void_points: Literal["removed", "given"] | None = Field(
        default=None, description="set for an item the instructor withdrew: what became of its points")
    checks: list[ReleasedCheck] = Field(min_length=1)

    def public_part(self) -> Item | None:
        """The item with its public checks only, to run them as grading does; None when it has none."""
        public = [released.check for released in self.checks if isinstance(released, PublicCheck)]
        if not public:
            return None
        return Item(id=self.id, title=self.title, visibility="public", asks_to_print=self.asks_to_print,
                    checks=public)


class PublicRubric(StrictModel):
    released: Literal[1] = Field(description="the format of a released (public) rubric")
    id: str
    title: str
    total: float
    template: str = "template.ipynb"
    template_cells: str | None = Field(
        default=None, description="sha256 of the released template's cells (types, sources, tags), to tell it from "
                                  "an edited one; absent in bundles released before it was recorded")
    execution: Execution
    submission: SubmissionFiles = SubmissionFiles()
    items: list[PublicItem] = Field(min_length=1)
    choose_all: list[ChooseAllGroup] = Field(default_factory=list)

    @property
    def true_false_items(self) -> list[str]:
        return [item.id for item in self.items if item.answer_kind == "true_false"]

    @property
    def choice_options(self) -> dict[str, list[int] | None]:
        return {item.id: item.options for item in self.items if item.answer_kind == "choice"}

    @property
    def item_ids(self) -> list[str]:
        return [item.id for item in self.items]


@dataclass(frozen=True)
class LoadedPublicRubric:
    spec: PublicRubric
    folder: Path
    template: nbformat.NotebookNode
    released: bool  # read from a released bundle, not derived from a full rubric folder


def template_cells_hash(template: nbformat.NotebookNode) -> str:
    """What answers are read against: each cell's type, source and tags. Not outputs or other metadata, which
    Jupyter and Colab rewrite when they open or save a notebook."""
    cells = [[cell.cell_type, cell.source, list(cell.get("metadata", {}).get("tags", []))] for cell in template.cells]
    encoded = json.dumps(cells, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return f"sha256:{hashlib.sha256(encoded).hexdigest()}"


def _with_tolerance(check: Check, default: Tolerance) -> Check:
    """A public check that compares numbers of the student's own (`reproduces`) with the rubric's default tolerance
    written in, since the bundle has no default: a tolerance for comparing a notebook with itself gives no key away."""
    if isinstance(check, ReproducesCheck) and check.tolerance is None:
        return check.model_copy(update={"tolerance": default})
    return check


def public_view(rubric: Rubric, preload: list[str], template: nbformat.NotebookNode) -> PublicRubric:
    """The rubric without anything that would give an answer away. preload: the modules warm kernels import
    (the bundle has no solution to read them from); template: the rubric's, whose cells' hash is recorded."""
    refused = [
        f"item {item.id}, check {check.name!r} ({check.kind})" for item in rubric.items for check in item.checks
        if item.is_public(check) and check.kind in REFERENCE_KINDS
    ]
    if refused:
        raise RubricError(
            "these checks are public but compare with the reference solution, which a student's self-check must "
            "not have: " + "; ".join(refused) + ". Make them `visibility: hidden` (the default)")
    items = [
        PublicItem(
            id=item.id, title=item.title, points=item.points, answer_kind=item.answer_kind, options=item.choice_options,
            needs_execution=item.needs_execution, asks_to_print=item.asks_to_print, void_points=item.void_points,
            checks=[PublicCheck(visibility="public", check=_with_tolerance(check, rubric.tolerance))
                    if item.is_public(check) else
                    HiddenCheck(visibility="hidden", kind=check.kind, name=check.name, points=check.points)
                    for check in item.checks],
        )
        for item in rubric.items
    ]
    execution = rubric.execution.model_copy(update={"preload": preload})
    return PublicRubric(released=RELEASE_FORMAT, id=rubric.id, title=rubric.title, total=rubric.total,
                        template=rubric.template, template_cells=template_cells_hash(template), execution=execution,
                        submission=rubric.submission, items=items, choose_all=rubric.choose_all)


def public_view_of(loaded: LoadedRubric) -> PublicRubric:
    """The public view of a loaded rubric folder, with the modules its solution imports to preload."""
    preload = loaded.spec.execution.preload
    return public_view(loaded.spec, imports_of(loaded.solution_path) if preload is None else preload, loaded.template)


def load_public_rubric(folder: Path | str) -> LoadedPublicRubric:
    """A released bundle, or a full rubric folder whose hidden parts are dropped on reading."""
    folder = Path(folder)
    path = folder / RUBRIC_FILE
    if not path.is_file():
        raise RubricError(f"{path}: no such file (give --rubric the folder of the exam's released bundle, which "
                          f"holds {RUBRIC_FILE} and the template)")
    raw = read_yaml(path)
    if "released" not in raw:
        loaded = load_rubric(folder)
        return LoadedPublicRubric(spec=public_view_of(loaded), folder=folder, template=loaded.template, released=False)
    try:
        spec = PublicRubric.model_validate(raw)
    except ValidationError as err:
        raise RubricError(describe_errors(path, raw, err)) from None
    return LoadedPublicRubric(spec=spec, folder=folder, template=_released_template(folder, spec), released=True)


def _released_template(folder: Path, spec: PublicRubric) -> nbformat.NotebookNode:
    """The template as released: the bundle's kept copy, or its template while no one has edited it. A student
    may answer in the template itself; comparing with that would read every answer as the template's text."""
    visible, kept = folder / spec.template, folder / SELF_CHECK_FOLDER / spec.template
    if spec.template_cells is None:  # released before the hash was recorded: the template is all there is
        if not visible.is_file():
            raise RubricError(f"{folder / RUBRIC_FILE}: names {spec.template!r}, which is not in {folder}")
        return read_template(visible)
    states = []
    for candidate in (kept, visible):
        try:
            template = read_template(candidate) if candidate.is_file() else None
        except RubricError:  # unreadable: edited too
            template = None
        if template is not None and template_cells_hash(template) == spec.template_cells:
            return template
        states.append(f"{candidate.relative_to(folder)} {'was edited' if candidate.is_file() else 'is missing'}")
    raise RubricError(
        f"the bundle in {folder.resolve()} does not hold the exam's template as released: {' and '.join(states)}. "
        "The self-check reads your answers by comparing your notebook with that template: download the bundle again "
        "into a new folder and move your notebook into it")
