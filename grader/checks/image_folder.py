"""`image_folder` checks: the class folders `ImageDataLoaders.from_folder` read (one per keyword), and the keywords
the notebook searched or crawled for (the grader's crawl stand-in records them); where the cells did not re-run and
nothing was loaded, the class names and counts their stored outputs show."""

from __future__ import annotations

import re

from grader.checks.context import ItemContext
from grader.checks.unverified import stored_result
from grader.evidence.offline import crawl_keywords
from grader.evidence.pipeline import student_dataloaders
from grader.notebook.stored import class_counts, class_names
from grader.results import CheckResult
from grader.rubric.models import ImageFolderCheck

_WORD = re.compile(r"[\W_]+")


def forbidden_words(name: str, forbidden: list[str]) -> list[str]:
    """The forbidden keywords a class name is, or has as a whole word ("Cat", "cat_photos", "고양이 사진")."""
    folded = name.strip().casefold()
    words = {folded, *(word for word in _WORD.split(folded) if word)}
    return [word for word in forbidden if word.casefold() in words]


def check(spec: ImageFolderCheck, ctx: ItemContext) -> CheckResult:
    dls = student_dataloaders(ctx.student.evidence) if ctx.student else None
    if dls is None:
        searched = crawl_keywords(ctx.student.evidence) if ctx.student else []
        stored = (_from_stored(spec, ctx.item_outputs, searched) if ctx.rerun_failed and spec.stored_weight > 0
                  else None)
        return stored or _result(spec, False, "no images were loaded with ImageDataLoaders.from_folder, so the "
                                              "collected images could not be checked", {})
    classes = dls.vocab
    detail = {"path": dls.path, "classes": classes, "images": {c: dls.class_counts.get(c, 0) for c in classes}}
    listed = ", ".join(f"'{c}'" for c in classes) or "none"
    if spec.require == "classes":
        passed = len(classes) == spec.classes
        message = "" if passed else f"{len(classes)} classes were found in '{dls.path}' ({listed}), not {spec.classes}"
    elif spec.require == "keywords":
        searched = crawl_keywords(ctx.student.evidence) if ctx.student else []
        detail["keywords"] = searched
        bad = _forbidden_seen(classes, searched, spec.forbidden)
        passed = bool(classes) and not bad
        message = "" if passed else ("no classes were found" if not classes else
                                     "keywords you may not use: " + ", ".join(bad))
    else:
        few = {c: n for c, n in detail["images"].items() if n < spec.min_images}
        passed = bool(classes) and not few
        message = "" if passed else ("no classes were found" if not classes else
                                     f"at least {spec.min_images} images per class are needed: " +
                                     ", ".join(f"'{c}' has {n}" for c, n in few.items()))
    return _result(spec, passed, message, detail)


def _forbidden_seen(classes: list[str], searched: list[str], forbidden: list[str]) -> list[str]:
    """The class names and the keywords searched for (a forbidden one crawled into an innocent folder) that are
    forbidden, quoted for a message."""
    bad = [f"'{c}'" for c in classes if forbidden_words(c, forbidden)]
    folders = {c.casefold() for c in classes}
    return bad + [f"'{k}' (searched for)" for k in searched
                  if k.casefold() not in folders and forbidden_words(k, forbidden)]


def _from_stored(spec: ImageFolderCheck, outputs: tuple[dict, ...], searched: list[str]) -> CheckResult | None:
    """The verdict on what the stored outputs of cells that did not re-run show of the class folders (class names
    and counts printed, see `grader.notebook.stored`); None when they show no class name, which verifies nothing.
    The forbidden keywords apply to every name seen, and to the keywords the re-run searched for before it
    failed."""
    names = class_names(outputs)
    if not names:
        return None
    counts = class_counts(outputs)
    detail = {"stored_classes": names, "stored_counts": counts}
    if spec.require == "classes":
        problem = "" if len(names) == spec.classes else f"{spec.classes} are asked for"
        return stored_result(spec, f"{len(names)} {'class' if len(names) == 1 else 'classes'} ({_listed(names)})",
                             problem, detail)
    if spec.require == "keywords":
        bad = _forbidden_seen(names, searched, spec.forbidden)
        return stored_result(spec, f"the classes {_listed(names)}",
                             f"keywords you may not use: {', '.join(bad)}" if bad else "", detail)
    missing = [name for name in names if name not in counts]
    if missing:
        return stored_result(spec, f"the classes {_listed(names)}",
                             f"no image count is shown for {_listed(missing)} (print how many images each class "
                             "folder holds)", detail)
    few = [name for name in names if counts[name] < spec.min_images]
    return stored_result(spec, ", ".join(f"{counts[name]} images of '{name}'" for name in names),
                         f"at least {spec.min_images} images per class are needed" if few else "", detail)


def _listed(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _result(spec: ImageFolderCheck, passed: bool, message: str, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
