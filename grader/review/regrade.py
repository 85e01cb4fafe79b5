"""Grade one submission again from the review page, the way `grader grade` graded it.

The rubric folder is read afresh (a regrade usually follows a rubric fix), the
submission is found again in the folder (or download zip) it was graded from,
and it runs in a cold kernel confined as the batch's were (sandboxed, by uid
alone, or not at all). Nothing is stored here: the result becomes a proposal
that a TA accepts or discards (grader.gradebook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.assets.cache import assets_root
from grader.assets.cache import describe as describe_assets
from grader.batch import rubric_summary
from grader.gradebook import GradingSources, RubricSummary
from grader.grading import Grader
from grader.lms.roster import RosterError, read_roster
from grader.results import SubmissionResult
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.run.execute import ActiveRuns
from grader.run.sandbox import SandboxUnavailable
from grader.service import KernelOptions, prepare
from grader.submission import discovered
from grader.unzip import ZipRefused


class RegradeError(Exception):
    """A regrade that could not run; the message says what to fix."""


@dataclass(frozen=True)
class Regrader:
    """Grades single submissions again from the sources a gradebook was filled from. `stop` ends the kernel
    of a regrade in progress (the review server is shutting down) and refuses new ones."""

    sources: GradingSources
    cache_dir: Path
    roster: Path | None = None  # the roster `grader grade` was given: it says which key each submission has
    gradebook: Path | None = None  # confined by uid alone, its folder must be closed to the kernels too
    active: ActiveRuns = field(default_factory=ActiveRuns, compare=False, repr=False)

    def stop(self) -> None:
        self.active.cancel_all()

    def grade(self, student: str) -> tuple[SubmissionResult, RubricSummary, nbformat.NotebookNode | None]:
        """The new result, the rubric it was graded with, and the executed notebook (None when nothing ran)."""
        try:
            loaded = load_rubric(Path(self.sources.rubric))
        except RubricError as err:
            raise RegradeError(f"the rubric cannot be read: {err}") from None
        try:
            roster = read_roster(self.roster) if self.roster is not None else None
        except (RosterError, OSError) as err:
            raise RegradeError(f"the roster cannot be read again: {err}") from None
        try:
            with discovered(Path(self.sources.submissions), loaded.spec.submission.notebook, roster) as found:
                submission = next((candidate for candidate in found if candidate.key == student), None)
                if submission is None:
                    raise RegradeError(f"no submission of {student} in {self.sources.submissions} any more; "
                                       "restore it there to regrade it")
                grader = self._grader(loaded)
                result, executed = grader.grade(submission)
        except (FileNotFoundError, ZipRefused) as err:
            raise RegradeError(f"the submissions cannot be read again: {err}") from None
        assets = describe_assets(assets_root(self.cache_dir))
        return result, rubric_summary(loaded, assets), executed

    def _grader(self, loaded: LoadedRubric) -> Grader:
        private = (Path(self.sources.submissions), *([self.gradebook.parent] if self.gradebook else []))
        options = KernelOptions(confinement=self.sources.confinement, private=private,
                                cpu_fallback=self.sources.cpu_fallback)
        try:
            return prepare(loaded, options, self.cache_dir, active=self.active).grader
        except SandboxUnavailable as err:
            raise RegradeError(f"cannot confine the kernel as the batch's were ({self.sources.confinement}): "
                               f"{err}") from None
        except RubricError as err:
            raise RegradeError(f"the reference solution cannot be used: {err}") from None
