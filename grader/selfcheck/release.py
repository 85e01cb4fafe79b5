"""Build the student bundle: the template, the public rubric and the self-check program, nothing else.

The template is written with its outputs and execution counts cleared: an
author's run of it could otherwise carry the reference's numbers. It is
written twice: where students work, and in `.grader/`, hidden by Jupyter's and
Colab's file browsers, which the self-check reads answers against (a student
who answers in the template itself would otherwise be compared with their own
answers).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import yaml

from grader.rubric import RubricError, load_rubric
from grader.rubric.load import RUBRIC_FILE
from grader.selfcheck.public import public_view_of
from grader.selfcheck.wheel import STUDENTS_LIBRARIES, requirements_besides_students
from grader.submission import SELF_CHECK_FOLDER

README_FILE = "README.md"
REQUIREMENTS_FILE = "grader-requirements.txt"
BUNDLE_FILES = (RUBRIC_FILE, README_FILE, REQUIREMENTS_FILE, SELF_CHECK_FOLDER)  # and the template, and the wheel
WHEELS = "grader-*.whl"
LAPTOP_HEADING = "## On a laptop"  # the section whose commands tests/test_selfcheck.py runs as written

README = """# {title}: self-check bundle

Check your notebook before you submit: the self-check runs it top to bottom in
a fresh kernel and says, for every item, whether it is answered and readable
and whether its cells ran, with the public checks' verdicts. It never says
whether an answer is right: that is decided at grading. It needs no GPU and no
network.

This folder holds:

- `{template}`: the exam. Work in it, or in a copy of it in this folder;
- `{rubric}`: what the self-check checks;
- `{wheel}`: the self-check program, `grader`;
- `{requirements}`: the libraries it uses besides {libraries};
- `{kept}/` (hidden): the template as released, which your answers are read
  against. Leave it here.

Install `grader` once, into the Python that runs your notebook (the one with
{libraries}). These commands never install or upgrade {libraries_or}; run
them again when you get a new bundle.

{laptop}

In a terminal, in this folder, with the Python environment you run Jupyter in
active (`conda activate NAME`, or your virtual environment):

```
python -m pip install -r {requirements}
python -m pip install --no-deps --force-reinstall {wheel}
grader check {template} --rubric .
```

No torch yet? Install torch and torchvision first, as https://pytorch.org says
for your machine (the CPU build is all the self-check needs), then
`python -m pip install fastai`. Where `grader` is not found, `python -m grader
check {template} --rubric .` runs the same.

## On a lab machine

Where you cannot install into the machine's Python, make a virtual environment
that uses its {libraries} (Linux, macOS), in this folder, with the
`python3` that has them:

```
python3 -m venv --system-site-packages ~/grader-env
~/grader-env/bin/python -m pip install -r {requirements}
~/grader-env/bin/python -m pip install --no-deps --force-reinstall {wheel}
~/grader-env/bin/grader check {template} --rubric .
```

Later checks need only the last line.

## On Colab

Upload this whole folder to your Google Drive as `MyDrive/{folder}` (its
hidden `{kept}` folder included), open `{template}` from there and save it
(Ctrl+S) before each check: the check reads the notebook as saved in Drive.
Run the check from another notebook (File > New notebook), never from a cell of
the exam's notebook: the check runs every cell of the notebook it checks.
Colab has {libraries}. In a cell:

```
from google.colab import drive
drive.mount('/content/drive')
%cd /content/drive/MyDrive/{folder}
!pip install -q -r {requirements}
!pip install -q --no-deps --force-reinstall {wheel}
!grader check {template} --rubric .
```

A new Colab session needs the install lines again.

## More

- `grader check NOTEBOOK --rubric .` checks a copy (name it as you like);
  `grader check` in this folder picks the notebook as grading would.
- `--watch` checks again on every save, until Ctrl-C; `--html check.html` also
  writes the report as a page.
- Cells are counted from the top of the notebook, text cells included.
"""


def release(rubric_folder: Path, out: Path, wheel: Path) -> list[Path]:
    """Write the bundle into `out` (new, or holding only an earlier bundle), with `wheel` (this grader's, see
    grader.selfcheck.wheel) for students to install; returns the files written."""
    loaded = load_rubric(rubric_folder)
    public = public_view_of(loaded)
    requirements = requirements_besides_students(wheel)
    names = {*BUNDLE_FILES, public.template}
    if out.exists():
        others = sorted(path.name for path in out.iterdir()
                        if path.name not in names and not path.match(WHEELS)) if out.is_dir() else [out.name]
        if others:
            raise RubricError(f"{out}: holds {', '.join(others[:5])}, which a bundle does not; give an empty or new "
                              "folder (everything in it is handed to students)")
    out.mkdir(parents=True, exist_ok=True)
    for earlier in out.glob(WHEELS):
        if earlier.resolve() != wheel.resolve():  # staff may give the wheel of the bundle being replaced
            earlier.unlink()
    shutil.rmtree(out / SELF_CHECK_FOLDER, ignore_errors=True)

    template = nbformat.from_dict(loaded.template)
    for cell in template.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    kept = out / SELF_CHECK_FOLDER / public.template
    kept.parent.mkdir()
    for path in (out / public.template, kept):
        nbformat.write(template, path)

    document = public.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    header = (f"# The public rubric of {public.id}, released for students' self-check (`grader check`).\n"
              "# Hidden checks are named without their settings; grading uses the full rubric.\n")
    (out / RUBRIC_FILE).write_text(
        header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    shipped = out / wheel.name
    if shipped.resolve() != wheel.resolve():
        shutil.copy2(wheel, shipped)
    (out / REQUIREMENTS_FILE).write_text(
        f"# What the self-check ({wheel.name}) uses besides {_listed(STUDENTS_LIBRARIES)}, which are yours:\n"
        "# install it with --no-deps after these, so that pip never installs or upgrades them.\n"
        + "".join(f"{requirement}\n" for requirement in requirements), encoding="utf-8")
    (out / README_FILE).write_text(README.format(
        title=public.title, template=public.template, rubric=RUBRIC_FILE, wheel=wheel.name,
        requirements=REQUIREMENTS_FILE, kept=SELF_CHECK_FOLDER, libraries=_listed(STUDENTS_LIBRARIES),
        libraries_or=_listed(STUDENTS_LIBRARIES, "or"), laptop=LAPTOP_HEADING, folder=public.id), encoding="utf-8")
    return [out / public.template, kept, out / RUBRIC_FILE, shipped, out / REQUIREMENTS_FILE, out / README_FILE]


def _listed(names: tuple[str, ...], conjunction: str = "and") -> str:
    *first, last = names
    return f"{', '.join(first)} {conjunction} {last}"
