"""`dataloaders` checks: `ImageDataLoaders.from_folder` built the data the final model trained on."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.evidence.pipeline import last_trained, student_dataloaders
from grader.results import CheckResult
from grader.rubric.models import DataLoadersCheck


def check(spec: DataLoadersCheck, ctx: ItemContext) -> CheckResult:
    evidence = ctx.student.evidence if ctx.student else None
    dls = student_dataloaders(evidence) if evidence else None
    if dls is None:
        passed, message, detail = False, "ImageDataLoaders.from_folder was never called successfully", {}
    else:
        detail = {"path": dls.path, "classes": dls.vocab, "train": dls.train, "valid": dls.valid,
                  "item_size": dls.item_size}
        final = last_trained(evidence)
        if len(dls.vocab) != spec.classes:
            passed, message = False, f"the DataLoaders have {len(dls.vocab)} classes, not {spec.classes}"
        elif dls.train == 0 or dls.valid == 0:
            passed, message = False, (f"the DataLoaders have {dls.train} training and {dls.valid} validation "
                                      "images; both splits need images")
        elif final is not None and final.learner.dls != dls.key:
            passed, message = False, "the model was not trained on the DataLoaders from from_folder"
        else:
            passed, message = True, ""
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
