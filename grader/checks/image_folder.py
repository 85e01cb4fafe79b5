"""`image_folder` checks: the class folders `ImageDataLoaders.from_folder` read (one per keyword), and the keywords
the notebook searched or crawled for (the grader's crawl stand-in records them)."""

from __future__ import annotations

import re

from grader.checks.context import ItemContext
from grader.evidence.offline import crawl_keywords
from grader.evidence.pipeline import student_dataloaders
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
        return _result(spec, False, "no images were loaded with ImageDataLoaders.from_folder, so the collected "
                                    "images could not be checked", {})
    classes = dls.vocab
    detail = {"path": dls.path, "classes": classes, "images": {c: dls.class_counts.get(c, 0) for c in classes}}
    listed = ", ".join(f"'{c}'" for c in classes) or "none"
    if spec.require == "classes":
        passed = len(classes) == spec.classes
        message = "" if passed else f"{len(classes)} classes were found in '{dls.path}' ({listed}), not {spec.classes}"
    elif spec.require == "keywords":
        searched = crawl_keywords(ctx.student.evidence) if ctx.student else []
        detail["keywords"] = searched
        bad = [f"'{c}'" for c in classes if forbidden_words(c, spec.forbidden)]
        folders = {c.casefold() for c in classes}
        bad += [f"'{k}' (searched for)" for k in searched
                if k.casefold() not in folders and forbidden_words(k, spec.forbidden)]
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


def _result(spec: ImageFolderCheck, passed: bool, message: str, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
