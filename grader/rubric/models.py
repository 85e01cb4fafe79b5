"""The rubric schema: what a YAML rubric may say, validated by pydantic.

An exam is data. Each item has one or more checks; an item's points are the
sum of its checks' points. Expected numbers are not written here: they come
from running the reference solution, so the rubric cannot drift from it.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime
from typing import Annotated, Literal, Union, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from grader.catalog import CATALOG

ITEM_ID = re.compile(r"^\d+\.\d+$")
MAX_OPTION_NUMBER = 99  # the largest option number a multiple choice answer is read with
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(StrictModel):
    """|got - expected| <= atol + rtol * |expected|, element-wise (numpy.isclose)."""

    rtol: float = Field(ge=0)
    atol: float = Field(ge=0)


Visibility = Literal["public", "hidden"]


class _Check(StrictModel):
    name: str = Field(min_length=1, description="What the student sees this check as.")
    points: float = Field(gt=0)
    visibility: Visibility | None = Field(
        default=None,
        description="public: students' self-check runs it and shows its verdict; hidden: it shows only whether "
                    "the item was answered and ran. Default: the item's visibility",
    )


class ModuleCheck(_Check):
    """The module trained by the first optimizer phase has the reference's class
    and parameter shapes (so ``bias=True`` differs from ``bias=False``)."""

    kind: Literal["module"]


class TensorCheck(_Check):
    """A recorded tensor value compared with the reference's within tolerance."""

    kind: Literal["tensor"]
    value: Literal["first_prediction"] = Field(
        description="first_prediction: the trained module's output that fed the first update"
    )
    tolerance: Tolerance | None = None


class OptimizerTraceCheck(_Check):
    """One aspect of an optimizer phase (a run of consecutive updates of the same
    parameters by optimizers of one class), compared with the reference's phase."""

    kind: Literal["optimizer_trace"]
    phase: int = Field(ge=1, description="1-based phase of the reference trace")
    compare: Literal["optimizer", "grad", "after"]
    step: int | Literal["last"] = Field(default="last", description="1-based update within the phase")
    hyperparameters: list[str] = Field(default_factory=lambda: ["lr"])
    same_optimizer: bool = Field(
        default=False, description="all updates up to `step` must come from one optimizer object"
    )
    exact_step_count: bool = Field(
        default=False, description="the phase must have exactly as many updates as the reference's"
    )
    tolerance: Tolerance | None = None
    follow_through: bool = Field(
        default=False, description="when the check fails against the reference, compare with the reference's "
                                   "procedure replayed from the student's own state at the item's start (their "
                                   "earlier mistake carried through); passing that earns the points")

    @field_validator("step")
    @classmethod
    def _positive_step(cls, step: int | str) -> int | str:
        if isinstance(step, int) and step < 1:
            raise ValueError("step counts from 1 (or is 'last')")
        return step


CLASS_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
OWNER_WORDS = ("own_class", "tensor")  # see grader.evidence.training


class TrainingCheck(_Check):
    """How the item's result was trained: whose parameters the optimizer updates in the item's cells changed.
    Each rule names classes (`torch.nn.RNNCell`, with their subclasses), modules of classes (`torchvision.models`),
    `own_class` (a class the student wrote) or `tensor` (a bare tensor); alternatives separated by '|'. A parameter
    belongs to a class when the module holding it, or one around that module, is an instance of it."""

    kind: Literal["training"]
    points: float = Field(ge=0, description="0 for a rule that only gates the item")
    forbid: list[str] = Field(default_factory=list, description="none of these may be trained")
    require: list[str] = Field(default_factory=list, description="each entry: something trained belongs to it")
    gate: bool = Field(default=False, description="when the rule fails, the whole item earns 0, not only this check")

    @field_validator("forbid", "require")
    @classmethod
    def _rules(cls, rules: list[str]) -> list[str]:
        for rule in rules:
            for alternative in rule.split("|"):
                name = alternative.strip()
                if name not in OWNER_WORDS and not CLASS_PATH.match(name):
                    raise ValueError(f"{name!r} is neither a class or module name (e.g. torch.nn.RNNCell) nor one of "
                                     f"{', '.join(OWNER_WORDS)}")
        return rules

    @model_validator(mode="after")
    def _a_rule(self) -> TrainingCheck:
        if not self.forbid and not self.require:
            raise ValueError("a training check needs `forbid` or `require`")
        if self.points == 0 and not self.gate:
            raise ValueError("a training check with 0 points must be a gate (`gate: true`), or it decides nothing")
        return self


class _FittedValues(_Check):
    probabilities: bool = Field(
        default=False, description="compare probabilities: the softmax of what a cross entropy received (sigmoid for "
                                   "a binary one, exp for log-probabilities); false: the values as the loss received them")
    tolerance: Tolerance | None = None


class FittedValuesCheck(_FittedValues):
    """The item's fitted values, found from evidence (what the loss received at the item's last optimizer update;
    the network's last output when the loss was written by hand), compared with the reference's."""

    kind: Literal["fitted_values"]
    follow_through: bool = Field(
        default=False, description="when the check fails against the reference, compare with the reference's "
                                   "procedure replayed from the student's own state at the item's start (their "
                                   "earlier mistake carried through); passing that earns the points")


class ReproducesCheck(_FittedValues):
    """The item's fitted values equal those of another item of the same student ("(3) gives the same fitted values
    as your (2)"): the student's two items are compared with each other, not with the reference."""

    kind: Literal["reproduces"]
    item: str = Field(description="the id of the item whose fitted values this one must reproduce")


class TrueFalseCheck(_Check):
    kind: Literal["true_false"]
    answer: bool


OptionNumber = Annotated[int, Field(ge=1, le=MAX_OPTION_NUMBER)]


class MultipleChoiceCheck(_Check):
    """A "choose all that apply" question, answered with the set of the chosen options' numbers."""

    kind: Literal["multiple_choice"]
    answer: list[OptionNumber] = Field(min_length=1, description="the numbers of the correct options")
    options: list[OptionNumber] | None = Field(
        default=None, description="the numbers of the options offered; an answer naming any other number is "
                                  f"unreadable. Without it, any number from 1 to {MAX_OPTION_NUMBER} is read")
    scoring: Literal["all_or_nothing", "per_option"] = Field(
        default="all_or_nothing",
        description="all_or_nothing: exactly the correct set earns the points; per_option: each offered option "
                    "chosen if and only if it is correct earns points / len(options)")

    @field_validator("answer", "options")
    @classmethod
    def _distinct(cls, numbers: list[int] | None) -> list[int] | None:
        if numbers is not None and len(set(numbers)) < len(numbers):
            raise ValueError(f"each option number once (got {numbers})")
        return numbers

    # Field validators, not a model validator, so that an error names its field; fields validate in order.
    @field_validator("options")
    @classmethod
    def _offers_the_answer(cls, options: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if options is None:
            return options
        not_offered = sorted(set(info.data.get("answer", ())) - set(options))
        if not_offered:
            raise ValueError(f"the options do not offer {', '.join(map(str, not_offered))}, which `answer` names")
        return options

    @field_validator("scoring")
    @classmethod
    def _per_option_needs_options(cls, scoring: str, info: ValidationInfo) -> str:
        if scoring == "per_option" and "options" in info.data and info.data["options"] is None:
            raise ValueError("per_option needs `options`: each option offered earns a share of the points")
        return scoring


class ManualCheck(_Check):
    """Points a TA sets. Keywords only suggest points in the report, never award them."""

    kind: Literal["manual"]
    guidance: str = ""
    keywords: list[str] = Field(default_factory=list)


class StoredFallback(_Check):
    """A check of a part that can fail to re-run for reasons outside the student's code (crawling offline), so
    that what its stored outputs show may earn a share of its points."""

    stored_weight: float = Field(
        default=0.0, ge=0, le=1,
        description="share of the points given when the part could not be re-run but the submitted notebook's "
                    "stored outputs show it (unverified evidence); 0 gives nothing for stored outputs",
    )


class ImageFolderCheck(StoredFallback):
    """The image folders `ImageDataLoaders.from_folder` read: one class per keyword."""

    kind: Literal["image_folder"]
    require: Literal["classes", "keywords", "images"] = Field(
        description="classes: exactly `classes` class folders; keywords: no class is a forbidden keyword; "
                    "images: every class has at least `min_images` images")
    classes: int | None = Field(default=None, ge=1, validate_default=True,
                                description="require classes: how many class folders there must be")
    forbidden: list[str] = Field(default_factory=list, description="case-insensitive, whole words of a class name")
    min_images: int = Field(default=1, ge=1)

    @field_validator("classes")
    @classmethod
    def _classes_when_counted(cls, classes: int | None, info: ValidationInfo) -> int | None:
        if classes is None and info.data.get("require") == "classes":
            raise ValueError("require: classes needs `classes`, the number of class folders asked for")
        return classes


class DataLoadersCheck(StoredFallback):
    """`ImageDataLoaders.from_folder` built the DataLoaders the final model trained on."""

    kind: Literal["dataloaders"]
    classes: int = Field(ge=1, description="how many classes the DataLoaders must have")


class LearnerCheck(StoredFallback):
    """A learner of the given architecture (told from the model's structure), trained."""

    kind: Literal["learner"]
    require: Literal["architecture", "trained"]
    architecture: str = Field(min_length=1, description="a torchvision name, e.g. resnet18")
    min_epochs: int = Field(default=1, ge=1)


class CamCheck(StoredFallback):
    """A heatmap drawn over an image, agreeing with the grader's own class activation map of the
    student's final model for the image the student fed it."""

    kind: Literal["cam"]
    require: Literal["overlay", "agreement"]
    min_rank_correlation: float = Field(default=0.6, ge=-1, le=1)
    min_top_overlap: float = Field(default=0.5, ge=0, le=1)
    top_fraction: float = Field(default=0.2, gt=0, le=1)
    min_image_match: float = Field(default=0.8, ge=-1, le=1,
                                   description="correlation between the image shown and the image fed to the model")


class ValueCheck(_Check):
    """A Python expression evaluated in the student's kernel, compared with the same expression in the
    reference's kernel: a tensor, an array, a number, a shape (`x.shape`), a string."""

    kind: Literal["value"]
    expression: str = Field(min_length=1, description="evaluated in the kernel, e.g. `net.weight`, `yhat[:8]`, `x.shape`")
    at: Literal["item_end", "notebook_end"] = Field(
        default="item_end", description="item_end: after the item's last code cell ran; notebook_end: after the last cell")
    compare: Literal["value", "shape", "dtype"] = Field(
        default="value", description="value: element-wise within `tolerance`; shape: the shapes only; dtype: the "
                                     "element types only (float32 vs float64)")
    tolerance: Tolerance | None = None
    follow_through: bool = Field(
        default=False, description="when the check fails against the reference, compare with the reference's "
                                   "procedure replayed from the student's own state at the item's start (their "
                                   "earlier mistake carried through); passing that earns the points")

    @field_validator("expression")
    @classmethod
    def _an_expression(cls, expression: str) -> str:
        return _parses_as_expression(expression)


class ParameterCountCheck(_Check):
    """The number of parameters of a module (any expression that has `.parameters()`)."""

    kind: Literal["parameter_count"]
    module: str = Field(min_length=1, description="an expression for the module, e.g. `rnn` or `learn.model`")
    expected: int | None = Field(default=None, ge=0, description="default: the reference's count of the same module")
    trainable_only: bool = Field(default=False, description="count only parameters with requires_grad")
    at: Literal["item_end", "notebook_end"] = "item_end"

    @field_validator("module")
    @classmethod
    def _an_expression(cls, expression: str) -> str:
        return _parses_as_expression(expression)


class ModelFitCheck(_Check):
    """A trained model scored on the reference's data. The student's `model` (a module or any callable) is
    applied to the `inputs` the reference computed; the `targets` never enter the student's kernel, and the
    grader computes the metric."""

    kind: Literal["model_fit"]
    model: str = Field(min_length=1, description="in the student's kernel: a callable from inputs to outputs, e.g. "
                                                  "`net` or `lambda x: head(rnn(x)[0])`")
    inputs: str = Field(min_length=1, description="in the reference's kernel: the inputs, e.g. `x`")
    targets: str = Field(min_length=1, description="in the reference's kernel: the targets, class indices or one-hot")
    metric: Literal["accuracy", "cross_entropy", "mse"]
    at_least: float | None = None
    at_most: float | None = None
    at: Literal["item_end", "notebook_end"] = "item_end"

    @field_validator("model", "inputs", "targets")
    @classmethod
    def _an_expression(cls, expression: str) -> str:
        return _parses_as_expression(expression)

    @model_validator(mode="after")
    def _one_bound(self) -> ModelFitCheck:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one bound: at_least (accuracy) or at_most (a loss)")
        return self


class PrintedCheck(_Check):
    """The item's cells print what the question asks: the numbers the reference prints in the same item
    (within tolerance), or, with `pattern`, text matching a regular expression."""

    kind: Literal["printed"]
    pattern: str | None = Field(default=None, description="a Python regular expression searched in the item's output")
    tolerance: Tolerance | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"not a regular expression: {err}") from None
        return pattern


def _parses_as_expression(expression: str) -> str:
    try:
        ast.parse(expression, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"not a Python expression: {err.msg}") from None
    return expression


Check = Annotated[
    Union[ModuleCheck, TensorCheck, OptimizerTraceCheck, TrueFalseCheck, ManualCheck,
          ImageFolderCheck, DataLoadersCheck, LearnerCheck, CamCheck, ValueCheck, ParameterCountCheck, ModelFitCheck,
          PrintedCheck, MultipleChoiceCheck, TrainingCheck, FittedValuesCheck, ReproducesCheck],
    Field(discriminator="kind"),
]

EXECUTED_KINDS = frozenset({"module", "tensor", "optimizer_trace", "image_folder", "dataloaders", "learner", "cam",
                            "value", "parameter_count", "model_fit", "printed", "training", "fitted_values",
                            "reproduces"})
# Checks that compare with the reference solution's run: a self-check, which has no reference, cannot run them.
REFERENCE_KINDS = frozenset({"module", "tensor", "optimizer_trace", "value", "parameter_count", "model_fit", "printed",
                             "fitted_values"})
# Checks that evaluate expressions in the kernel after a cell (see grader.captures).
CAPTURE_KINDS = frozenset({"value", "parameter_count", "model_fit"})
CHECK_KINDS = tuple(get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(Check)[0]))


AnswerKind = Literal["true_false", "choice", "text", "code"]


class Item(StrictModel):
    id: str
    title: str
    visibility: Visibility = Field(
        default="hidden", description="the default of the item's checks; see a check's `visibility`")
    asks_to_print: bool = Field(
        default=False, description="the question asks to print values: the self-check says whether the item's "
                                   "cells print any (points come from what the code computed, not from prints)")
    void: bool = Field(
        default=False, description="withdrawn by the instructor (a typo in the question): graded for no one; its "
                                   "cells stay its own, so the answers next to it are read as before")
    void_points: Literal["removed", "given"] | None = Field(
        default=None, description="a void item's points: removed (from the total, which then does not count "
                                  "them) or given (to everyone)")
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _void_says_how_its_points_count(self) -> Item:
        if self.void and self.void_points is None:
            raise ValueError("a void item says what becomes of its points: `void_points: removed` (the total no "
                             "longer counts them) or `void_points: given` (everyone gets them)")
        if not self.void and self.void_points is not None:
            raise ValueError("`void_points` is for a void item: add `void: true`, or remove it")
        return self

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not ITEM_ID.match(value):
            raise ValueError(f"item id {value!r} should look like '4.2' (problem.sub-item)")
        return value

    @field_validator("checks")
    @classmethod
    def _one_answer_read(cls, checks: list[Check]) -> list[Check]:
        kinds = [check.kind for check in checks]
        if kinds.count("multiple_choice") > 1 or {"multiple_choice", "true_false"} <= set(kinds):
            raise ValueError("an item has at most one multiple_choice check and then no true_false check: "
                             "each reads the item's answer its own way")
        return checks

    @property
    def points(self) -> float:
        """What the item counts for in the total: its checks' points, or 0 for a void item whose points are
        removed."""
        return 0.0 if self.void_points == "removed" else self.check_points

    @property
    def check_points(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def problem(self) -> int:
        return int(self.id.split(".")[0])

    @property
    def number(self) -> int:
        return int(self.id.split(".")[1])

    @property
    def needs_execution(self) -> bool:
        return any(check.kind in EXECUTED_KINDS for check in self.checks)

    @property
    def answer_kind(self) -> AnswerKind:
        """What answering the item means: a readable true/false, a set of option numbers, written text,
        or code that runs."""
        kinds = {check.kind for check in self.checks}
        if "true_false" in kinds:
            return "true_false"
        if "multiple_choice" in kinds:
            return "choice"
        return "code" if self.needs_execution else "text"

    @property
    def choice_options(self) -> list[int] | None:
        """The option numbers a choice item offers, when its rubric says."""
        return next((check.options for check in self.checks if isinstance(check, MultipleChoiceCheck)), None)

    def is_public(self, check: Check) -> bool:
        return (check.visibility or self.visibility) == "public"


class ChooseAllGroup(StrictModel):
    """True/false items asked as one "choose all that apply" question: a student
    may answer with the list of true statements' numbers instead."""

    items: list[str] = Field(min_length=2)


def download_url_problem(url: str) -> str | None:
    """Why `url` cannot be a download the cache serves, or None: it must be an http or https URL with a host,
    written without spaces, as the notebook's code requests it."""
    if any(character.isspace() for character in url):
        return "a URL has no spaces or line breaks (write a space as %20)"
    try:
        parts = urlsplit(url)
    except ValueError as err:  # e.g. an unclosed [ of an IPv6 host
        return f"not a URL: {err}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host, e.g. https://example.com/data.csv"
    return None


class Download(StrictModel):
    """A URL the notebooks download (urllib, requests, `pd.read_csv(url)`): kernels have no network, so they get
    the asset cache's copy, which `grader assets fetch --rubric` makes."""

    url: str = Field(description="http or https, exactly as the notebooks' code writes it")
    sha256: str | None = Field(
        default=None, description="the sha256 of the file, 64 hex digits, as `grader assets fetch --rubric` prints "
                                  "it: fetch refuses other bytes, and grading a cached copy with another hash")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        problem = download_url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, digest: str | None) -> str | None:
        if digest is not None and not SHA256_HEX.fullmatch(digest):
            raise ValueError("a sha256 is 64 hex digits, as `sha256sum` or `grader assets fetch --rubric` prints it")
        return digest.lower() if digest is not None else None


class Execution(StrictModel):
    cell_timeout_s: float = Field(default=120, gt=0)
    notebook_timeout_s: float = Field(default=900, gt=0)
    memory_mb: int = Field(default=4096, ge=256, description="memory of one kernel, its tmpfs folders included")
    max_processes: int = Field(default=256, ge=16, description="processes and threads of one kernel at once")
    max_file_mb: int = Field(default=512, ge=1, description="largest file a kernel may write")
    disk_mb: int = Field(default=1024, ge=16, description="size of each of the kernel's /tmp and working folder")
    retries: int = Field(default=1, ge=0, le=10, description="--executor slurm: how many times a task that ended "
                                                             "without a result (failed, timed out, its node died) "
                                                             "is submitted again before the submission is an error")
    preload: list[str] | None = Field(
        default=None,
        description="modules imported once before kernels are forked from a warm process, e.g. "
                    "[torch, fastai.vision.all]; by default those the solution imports",
    )
    assets: list[str] | None = Field(
        default=None,
        description="the asset cache's entries the notebooks need (`grader assets status` lists them), e.g. "
                    "[resnet34, mnist_sample]; grading refuses to start without them. By default those the "
                    "solution's code uses (resnet34 for `vision_learner(dls, resnet34)`)",
    )
    downloads: list[Download] = Field(
        default_factory=list,
        description="the URLs the notebooks download, each {url, sha256}, e.g. [{url: "
                    "'https://example.com/data.csv', sha256: 3a7b…}]: the kernels get the asset cache's copies "
                    "(`grader assets fetch --rubric`), and grading refuses to start without them. `grader assign` "
                    "lists those the master's code writes",
    )

    @field_validator("assets")
    @classmethod
    def _catalogued(cls, assets: list[str] | None) -> list[str] | None:
        unknown = [name for name in assets or () if name not in CATALOG]
        if unknown:
            raise ValueError(f"no asset {', '.join(map(repr, unknown))}; the assets are {', '.join(CATALOG)}")
        return assets

    @field_validator("downloads")
    @classmethod
    def _each_url_once(cls, downloads: list[Download]) -> list[Download]:
        urls = [download.url for download in downloads]
        twice = sorted({url for url in urls if urls.count(url) > 1})
        if twice:
            raise ValueError(f"each URL once: {', '.join(twice)} is listed more than once")
        return downloads


class SubmissionFiles(StrictModel):
    """Which file of a submission is graded."""

    notebook: str = Field(
        default="*.ipynb",
        description="glob on the file name (not its folder) of the notebook to grade when a submission holds "
                    "several, e.g. 'midterm*.ipynb'; case-insensitive",
    )

    @field_validator("notebook")
    @classmethod
    def _file_name_pattern(cls, pattern: str) -> str:
        if "/" in pattern or "\\" in pattern:
            raise ValueError("a pattern for the notebook's file name only, without folders (e.g. 'midterm*.ipynb')")
        if not (pattern.lower().endswith(".ipynb") or pattern.endswith("*")):
            raise ValueError("the pattern would match no notebook: end it with '.ipynb' or '*' (e.g. 'midterm*.ipynb')")
        return pattern


class LatePolicy(StrictModel):
    """What a late submission costs. How late comes from the deadline and the submission time when both are
    known (an LMS download stamps its files with it), else from the LMS's late mark (Canvas's `_LATE`)."""

    rule: Literal["none", "per_day", "per_hour", "zero"] = Field(
        default="none", description="per_day / per_hour: deduct `deduction_percent` of the total per day or hour "
                                    "started; zero: a late submission scores 0")
    deadline: datetime | None = Field(default=None, description="with its time zone, e.g. 2022-04-20T23:59:00+09:00")
    deduction_percent: float = Field(default=0, ge=0, le=100, description="of the exam's total, per period")
    cap_percent: float = Field(default=100, ge=0, le=100, description="the most a late submission loses")
    grace_minutes: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> LatePolicy:
        if self.deadline is not None and self.deadline.tzinfo is None:
            raise ValueError("the deadline needs its time zone, e.g. 2022-04-20T23:59:00+09:00")
        if self.rule in ("per_day", "per_hour") and self.deduction_percent <= 0:
            raise ValueError(f"rule {self.rule} needs deduction_percent above 0")
        return self


class GradescopeSettings(StrictModel):
    """What `grader gradescope build` puts in the autograder."""

    problems: list[int] | None = Field(
        default=None, min_length=1,
        description="the problems its autograder grades, e.g. those Gradescope's CPU containers can run in time "
                    "(they cannot fine-tune a pretrained network); default: all")
    late: Literal["rubric", "gradescope"] = Field(
        default="rubric",
        description="rubric: the autograder applies the rubric's late policy, timed by Gradescope's submission "
                    "metadata (the rubric's deadline, else the assignment's due date in Gradescope); gradescope: it "
                    "deducts nothing for lateness and says so, leaving it to the course's Gradescope settings")


class Rubric(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    total: float = Field(gt=0, description="declared total; must equal the sum of the items' points")
    template: str = "template.ipynb"
    solution: str = "solution.ipynb"
    master: str | None = Field(
        default=None, description="the master notebook `grader assign` wrote the template and solution from; "
                                  "`grader rubric lint` checks that none of its solutions is left in the template")
    solution_data: str | None = Field(
        default=None, description="a folder beside the rubric whose files the solution reads (its crawled images); "
                                  "copied into the solution's working folder, as a submission's files are")
    execution: Execution = Execution()
    submission: SubmissionFiles = SubmissionFiles()
    tolerance: Tolerance
    items: list[Item] = Field(min_length=1)
    choose_all: list[ChooseAllGroup] = Field(default_factory=list)
    late: LatePolicy = LatePolicy()
    gradescope: GradescopeSettings = GradescopeSettings()

    @model_validator(mode="after")
    def _gradescope_problems_exist(self) -> Rubric:
        unknown = sorted(set(self.gradescope.problems or ()) - set(self.problems))
        if unknown:
            raise ValueError(f"gradescope.problems names Problem {', '.join(map(str, unknown))}, which has no items")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"item id {item.id!r} appears twice")
            seen.add(item.id)
        total = sum(item.points for item in self.items)
        if abs(total - self.total) > 1e-9:
            removed = [f"{item.id}'s {item.check_points:g}" for item in self.items if item.void_points == "removed"]
            raise ValueError(f"items add up to {total:g} points but `total` says {self.total:g}"
                             + (f" (void items' removed points are not counted: {', '.join(removed)})"
                                if removed else ""))
        by_id = {item.id: item for item in self.items}
        for item in self.items:
            for check in item.checks:
                if isinstance(check, ReproducesCheck) and (check.item == item.id or check.item not in by_id):
                    raise ValueError(f"item {item.id}: check {check.name!r} reproduces item {check.item!r}, which is "
                                     + ("itself" if check.item == item.id else "not in the rubric"))
        for group in self.choose_all:
            for item_id in group.items:
                chosen = by_id.get(item_id)
                if chosen is None:
                    raise ValueError(f"choose_all names item {item_id!r}, which the rubric does not have")
                if [check.kind for check in chosen.checks] != ["true_false"]:
                    raise ValueError(f"choose_all item {item_id!r} must have exactly one true_false check")
        return self

    def item(self, item_id: str) -> Item:
        return next(item for item in self.items if item.id == item_id)

    @property
    def problems(self) -> list[int]:
        return sorted({item.problem for item in self.items})
