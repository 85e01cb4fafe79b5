"""What grading produces: one result per item and per submission.

These are the values the gradebook stores and every output (results.json,
reports, exports) is rendered from. ``message`` fields are written for the
student; ``detail`` carries what only a TA should see (expected values of
hidden items, tolerances, differences).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

ItemStatus = Literal["pass", "partial", "fail", "manual", "error", "not-reached", "void"]
SubmissionStatus = Literal["graded", "error", "needs-review"]

# Every flag a result can carry, and what raises it. A flag is its own TA wording: the badge on the TA's reports and
# review pages, the review page's filter and results.json show it as it is, beside the notes that say where and why.
Flag = Literal[
    "timeout",  # a cell ran past its time limit
    "kernel-died",  # the kernel died; the later cells did not run
    "memory-limit",  # the kernel's cgroup killed a process for memory
    "process-limit",  # the cgroup refused processes or threads
    "disk-limit",  # a cell ran out of its tmpfs or hit the file size limit
    "cpu-fallback",  # CUDA calls ran on the CPU (--cpu-fallback, no GPU)
    "crawl-substituted",  # image searches and crawls were answered with the asset cache's crawl images
    "integrity",  # printed values equal the reference's with nothing recorded to explain them, or foreign evidence
    "evidence-error",  # the probe's evidence could not be read
    "no-sandbox",  # the kernel ran unconfined (--confine none)
    "uid-only",  # the kernel ran as its own uid without namespaces (--confine uid)
    "several-notebooks",  # several notebooks, and not one named as the rubric's pattern says: the newest is graded
    "no-student-id",  # no student id in the name (or a Moodle team in no group)
    "ambiguous-student-id",  # several parts of the name look like a student id; the last was taken
    "duplicate-id",  # another submission has the same id: this one is keyed `id~2`
]
# What each flag tells the student (feedback pages, Gradescope, an LMS's feedback), word for word; None: a flag
# for staff only (the integrity flag is the TA's to raise, identity problems are the course's), or one that says
# nothing to the student (how the kernel was confined is said by the confinement, not the flag).
FLAG_STUDENT_WORDING: dict[Flag, str | None] = {
    "timeout": "A cell ran past its time limit and was stopped.",
    "kernel-died": "Python stopped (the kernel died) before the end of the notebook; the cells after that did not run.",
    "memory-limit": "The notebook used more memory than it is allowed; a process was stopped.",
    "process-limit": "The notebook started more processes or threads than it is allowed; the extra ones were refused.",
    "disk-limit": "The notebook wrote more to disk than it is allowed.",
    "cpu-fallback": "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.",
    "crawl-substituted": ("The grader runs notebooks without internet access: your image searches and downloads were "
                          "answered with the grader's own images, one class per keyword, and your code ran on those."),
    "integrity": None,
    "evidence-error": None,
    "no-sandbox": None,
    "uid-only": None,
    "several-notebooks": "The submission holds several notebooks; the newest one was graded.",
    "no-student-id": None,
    "ambiguous-student-id": None,
    "duplicate-id": None,
}


def student_flag_lines(flags: Iterable[Flag]) -> list[str]:
    """What `flags` tell the student, one sentence each, in the flags' order (each once)."""
    return [line for flag in dict.fromkeys(flags) if (line := FLAG_STUDENT_WORDING[flag]) is not None]
Evidence = Literal["executed", "stored"]
# How the kernel was confined: "sandbox" (bubblewrap: own uid, namespaces, cgroups), "uid" (its own unprivileged uid
# without namespaces, the answer files root-only: where a container refuses namespaces) or "none" (`--no-sandbox`).
Confinement = Literal["sandbox", "uid", "none"]


class CheckResult(BaseModel):
    name: str
    points: float
    max_points: float
    passed: bool | None  # None: waiting for a person (manual)
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)
    evidence: Evidence = "executed"  # "stored": points from the submitted file's outputs, not re-verified


CHECK_MARKS = {True: "✓", False: "✗", None: "…"}


def checks_line(checks: list[CheckResult]) -> str:
    """Checks as an item's message writes them: "✓ net is Linear · ✗ first prediction: off by 0.3"."""
    return " · ".join(f"{CHECK_MARKS[check.passed]} {check.name}" + (f": {check.message}" if check.message else "")
                      for check in checks)


class Figure(BaseModel):
    """An image for the report (a PNG data URL) with what it shows."""

    title: str
    png: str
    caption: str = ""


class Printed(BaseModel):
    """A value the student printed, as parsed from a cell's output."""

    cell: int  # 1-based cell number in the notebook
    text: str
    values: list[float] | None = None
    shape: list[int] | None = None


class ManualScore(BaseModel):
    points: float
    comment: str = ""  # for the student: shown on their feedback, in Gradescope and the LMS
    reason: str = ""  # for staff only (TA pages, the history, results.json); an override needs one
    by: str
    at: str
    kind: Literal["manual", "override"]
    automatic_points: float | None = None  # what the checks gave, for overrides


class ItemResult(BaseModel):
    id: str
    title: str = ""
    points: float
    max_points: float
    status: ItemStatus
    message: str
    evidence: Evidence
    checks: list[CheckResult] = Field(default_factory=list)
    answer: str | None = None  # the answer as the grader read it (T/F) or the text (manual)
    printed: list[Printed] = Field(default_factory=list)  # printed when re-executed
    stored_printed: list[Printed] = Field(default_factory=list)  # printed in the submitted file
    cells: list[int] = Field(default_factory=list)  # 1-based cells that answer this item
    manual: ManualScore | None = None  # the latest TA score, when one applies
    figures: list[Figure] = Field(default_factory=list)


class CellRun(BaseModel):
    cell: int  # 1-based
    status: Literal["ok", "error", "timeout", "died", "not-run"]
    error: str | None = None  # "NameError: name 'optimzr' is not defined"
    seconds: float = 0.0
    # The cell is nothing but an answer read from its text (`T` alone): why its error costs nothing.
    answer_note: str | None = None


class IntegrityFlag(BaseModel):
    """For the TA only: a cell whose printed values equal the reference's with nothing recorded to explain them."""

    cell: int  # 1-based, markdown cells counted
    note: str
    source: str  # the cell's code as submitted, cut where it is long


class CrawlSearch(BaseModel):
    """One image search or crawl the grader's stand-in answered."""

    api: str  # ddg_images, DDGS.images, search_images_ddg, bing_image_downloader, icrawler.GoogleImageCrawler, …
    keyword: str
    images: int  # how many it handed out
    image_class: str | None  # which of the crawl images' classes answered (None: there were none)


class OfflineRun(BaseModel):
    """What the notebook asked of the network, which grading kernels do not have, and what it got instead."""

    crawl_images: Literal["real", "synthetic"] | None = None  # the asset cache's crawl images; None: none there
    searches: list[CrawlSearch] = Field(default_factory=list)
    folders: dict[str, int] = Field(default_factory=dict)  # images the stand-ins wrote, per folder
    own_images_kept: list[str] = Field(default_factory=list)  # folders that held the student's own images
    cached_urls: list[str] = Field(default_factory=list)  # served from the download cache
    refused_urls: list[str] = Field(default_factory=list)  # not cached: they failed as they would offline
    sleeps: int = 0  # time.sleep calls the virtual clock skipped
    slept_s: float = 0.0  # and their seconds

    @property
    def crawl_substituted(self) -> bool:
        return bool(self.searches or self.folders)


class SubmissionResult(BaseModel):
    student: str
    name: str | None = None
    student_id: str | None = None
    file: str
    status: SubmissionStatus
    total: float
    max: float
    flags: list[Flag] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # for the TA: why a flag was raised, etc.
    integrity: list[IntegrityFlag] = Field(default_factory=list)  # for the TA: the cells behind the integrity flag
    error: str | None = None  # for status "error": what went wrong, for the student
    items: list[ItemResult]
    notebook_hash: str
    rubric_hash: str
    cells: list[CellRun] = Field(default_factory=list)
    seconds: float = 0.0
    graded_at: str = ""
    retry: bool = False  # an environment failure, not the student's: regrade on the next run
    sandboxed: bool = True  # the bubblewrap sandbox ran; False for "uid" and "none", and every report says so
    confinement: Confinement = "sandbox"  # what ran; sandboxed is confinement == "sandbox"
    lms: str | None = None  # "canvas" or "moodle": the LMS whose download it came from
    lms_user_id: str | None = None  # from an LMS download's names: Canvas's user id (`anon_…` when anonymous),
    # Moodle's participant id
    name_in_file: str | None = None  # the name part of the download's names (Canvas's is made from the sortable
    # name, downcased, punctuation dropped: not its SIS login); Moodle's full name
    late: bool = False  # Canvas marked the submission late
    submitted_at: str | None = None  # UTC ISO time, from the download zip's member times; None when unknown
    late_deduction: float = 0.0  # points the rubric's late policy took off `total` (applied when read)
    late_note: str | None = None  # how late, how it was known, what it cost
    offline: OfflineRun | None = None  # searches, downloads and sleeps the grader stood in for; None: none

    @model_validator(mode="after")
    def _confinement_agrees(self) -> SubmissionResult:
        """`sandboxed` is the contract field of results.json; a result made with only `sandboxed=False` (before
        uid confinement existed) ran unconfined."""
        if self.confinement == "sandbox" and not self.sandboxed:
            self.confinement = "none"
        self.sandboxed = self.confinement == "sandbox"
        return self

