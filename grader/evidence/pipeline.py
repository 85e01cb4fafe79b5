"""The student's fastai pipeline as recorded: which data, which learner, which training."""

from __future__ import annotations

from dataclasses import dataclass

from grader.evidence.architecture import Architecture, identify
from grader.evidence.model import DataLoadersEvent, Evidence, FitEvent, LearnerEvent


@dataclass(frozen=True)
class TrainedLearner:
    learner: LearnerEvent
    architecture: Architecture
    fits: list[FitEvent]  # its fit calls, in order

    @property
    def epochs(self) -> int:
        """Epochs recorded by fit calls that finished (fine_tune(1) makes two: frozen, then unfrozen)."""
        return sum(fit.epochs for fit in self.fits if fit.error is None)

    def final_metrics(self) -> dict[str, float | str | None]:
        finished = [fit for fit in self.fits if fit.error is None and fit.values]
        return finished[-1].final() if finished else {}


def learners(evidence: Evidence) -> list[TrainedLearner]:
    """Every learner built, with what it is and how it was trained, in order of creation."""
    found = []
    for learner in evidence.learners:
        if learner.model is None or learner.model not in evidence.modules:
            continue
        fits = [fit for fit in evidence.fits if fit.learner == learner.key]
        found.append(TrainedLearner(learner, identify(evidence, learner.model), fits))
    return found


def last_trained(evidence: Evidence) -> TrainedLearner | None:
    """The learner whose training finished last: the student's final model."""
    trained = [t for t in learners(evidence) if any(fit.error is None for fit in t.fits)]
    return max(trained, key=lambda t: max(fit.seq for fit in t.fits if fit.error is None), default=None)


def student_dataloaders(evidence: Evidence) -> DataLoadersEvent | None:
    """The `from_folder` DataLoaders the final model was trained on; failing that, the last one built."""
    by_key = {dls.key: dls for dls in evidence.dataloaders}
    final = last_trained(evidence)
    if final is not None and final.learner.dls in by_key:
        return by_key[final.learner.dls]
    return evidence.dataloaders[-1] if evidence.dataloaders else None
