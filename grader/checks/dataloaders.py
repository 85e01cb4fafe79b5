"""`dataloaders` checks: `ImageDataLoaders.from_folder` built the data the final model trained on; where the cells
did not re-run and nothing was built, the DataLoaders' classes and images their stored outputs show."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.checks.unverified import stored_result
from grader.evidence.pipeline import last_trained, student_dataloaders
from grader.notebook.stored import figures, printed_vocab, split_sizes
from grader.results import CheckResult
from grader.rubric.models import DataLoadersCheck


def check(spec: DataLoadersCheck, ctx: ItemContext) -> CheckResult:
    evidence = ctx.student.evidence if ctx.student else None
    dls = student_dataloaders(evidence) if evidence else None
    if dls is None:
        stored = _from_stored(spec, ctx.item_outputs) if ctx.rerun_failed and spec.stored_weight > 0 else None
        if stored is not None:
            return stored
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


def _from_stored(spec: DataLoadersCheck, outputs: tuple[dict, ...]) -> CheckResult | None:
    """The verdict on what the stored outputs of cells that did not re-run show; None when they show nothing.

    The classes must be printed (`dls.vocab`): a figure's titles cannot be read from its PNG, so `show_batch`
    alone does not say how many classes there are. That both splits hold images is shown by their sizes printed
    (`len(dls.train_ds), len(dls.valid_ds)`), or taken from a figure (`show_batch` draws from the training set,
    and from_folder's random split leaves the validation set empty only for a handful of images)."""
    vocab = printed_vocab(outputs)
    splits = split_sizes(outputs)
    shown_figures = figures(outputs)
    if vocab is None and splits is None and not shown_figures:
        return None
    seen = []
    if vocab:
        seen.append("the classes " + ", ".join(f"'{name}'" for name in vocab))
    if splits:
        seen.append(f"{splits[0]} training and {splits[1]} validation images")
    if shown_figures:
        seen.append("a figure" if shown_figures == 1 else f"{shown_figures} figures")
    detail = {"stored_classes": vocab, "stored_splits": list(splits) if splits else None,
              "stored_figures": shown_figures}
    if vocab is None:
        problem = "the DataLoaders' classes are not shown (print dls.vocab)"
    elif len(vocab) != spec.classes:
        problem = f"the DataLoaders need {spec.classes} classes"
    elif splits is not None and 0 in splits:
        problem = "both splits need images"
    elif splits is None and not shown_figures:
        problem = ("nothing shows that the DataLoaders hold images (show a batch with dls.show_batch() or print "
                   "len(dls.train_ds), len(dls.valid_ds))")
    else:
        problem = ""
    return stored_result(spec, " and ".join(seen), problem, detail)
