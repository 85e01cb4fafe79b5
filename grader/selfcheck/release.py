"""Build the student bundle: the template and the public rubric, nothing else.

The template is written with its outputs and execution counts cleared: an
author's run of it could otherwise carry the reference's numbers.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml

from grader.rubric import RubricError, load_rubric
from grader.rubric.load import RUBRIC_FILE
from grader.selfcheck.public import public_view_of

README_FILE = "README.md"
BUNDLE_FILES = (RUBRIC_FILE, README_FILE)  # and the rubric's template

README = """# {title}: self-check bundle

Work in `{template}` (or a copy of it), then check it before you submit:

    grader check {template} --rubric .

The self-check runs your notebook top to bottom in a fresh kernel and says, for
every item, whether it is answered and readable and whether its cells ran, with
the public checks' verdicts. It never says whether an answer is right: that is
decided at grading.
"""


def release(rubric_folder: Path, out: Path) -> list[Path]:
    """Write the bundle into `out` (new, or holding only an earlier bundle); returns the files written."""
    loaded = load_rubric(rubric_folder)
    public = public_view_of(loaded)
    names = {*BUNDLE_FILES, public.template}
    if out.exists():
        others = sorted(path.name for path in out.iterdir() if path.name not in names) if out.is_dir() else [out.name]
        if others:
            raise RubricError(f"{out}: holds {', '.join(others[:5])}, which a bundle does not; give an empty or new "
                              "folder (everything in it is handed to students)")
    out.mkdir(parents=True, exist_ok=True)

    template = nbformat.from_dict(loaded.template)
    for cell in template.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(template, out / public.template)

    document = public.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    header = (f"# The public rubric of {public.id}, released for students' self-check (`grader check`).\n"
              "# Hidden checks are named without their settings; grading uses the full rubric.\n")
    (out / RUBRIC_FILE).write_text(
        header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    (out / README_FILE).write_text(README.format(title=public.title, template=public.template), encoding="utf-8")
    return [out / public.template, out / RUBRIC_FILE, out / README_FILE]
