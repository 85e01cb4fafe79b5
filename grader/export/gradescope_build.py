"""`grader gradescope`: the autograder zip that runs this grader inside Gradescope, and its results.json.

`build` writes the zip Gradescope's autograder specification asks for
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): `setup.sh` and an
executable `run_autograder` at its root. Gradescope unpacks it into /autograder/source,
runs `setup.sh` once as root to build an Ubuntu image, then runs `run_autograder` for each
submission in a fresh container from that image, the student's files in
/autograder/submission, and shows /autograder/results/results.json.

Beside the scripts go the rubric, restricted to the chosen problems (by default the rubric's
`gradescope.problems`: Gradescope's CPU containers cannot, say, fine-tune a pretrained network
in time), and the grader itself, as source or a wheel.

The sandbox: `run_autograder` grades sandboxed when the container allows bubblewrap, user
namespaces and cgroups. Gradescope's containers usually do not, and then it grades again with
`--no-sandbox`: the student's kernel runs unconfined, as root, in a container that holds
only this student's files, the restricted rubric and its reference solution, and is thrown
away afterwards. The trade-off: nothing of other students or of the instructor's machine is
exposed, but the notebook could read the reference solution, reach the network and tamper
with the grader to forge its own result. Its results.json says it ran without the sandbox;
regrade such submissions sandboxed (`grader grade`, on your machine) before trusting a
suspicious score.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import nbformat
import typer
import yaml
from rich.console import Console
from rich.markup import escape

import grader
from grader.assets.catalog import Asset
from grader.assets.needs import needed_assets
from grader.batch import GRADEBOOK_FILE
from grader.export.gradescope import write_gradescope_results
from grader.gradebook import Gradebook
from grader.notebook.locate import locate
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.rubric.load import RUBRIC_FILE
from grader.rubric.models import Rubric

gradescope_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                             help="Grade on Gradescope: build the autograder zip, write Gradescope's results.json.")
console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)  # text; markup only where asked

SOURCE = "/autograder/source"
GRADER_SRC = "grader-src"
RUBRIC = "rubric"
# The solution reads its `solution_data` (the crawled images) only for these checks: without any of them
# among the chosen problems, the folder is left out.
READS_SOLUTION_DATA = frozenset({"image_folder", "dataloaders", "learner", "cam"})
# pyproject.toml names README.md as the package's readme: building from source needs both.
PROJECT_FILES = ("pyproject.toml", "README.md")

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in a fresh container made from the image
# setup.sh built, with the student's files in /autograder/submission.
# AUTOGRADER_ROOT stands in for /autograder, to try this zip on your own machine first.
set -euo pipefail
exec 2>&1  # the grader's console is stderr; Gradescope shows the instructor what this prints
root="${AUTOGRADER_ROOT:-/autograder}"
export GRADER_CACHE="$root/cache"  # holds the reference solution's evidence, computed by setup.sh
grader="$root/venv/bin/grader"
work="$(mktemp -d)"
# `grader grade` takes a folder with one entry per student; this submission is the only one.
mkdir "$work/submissions"
cp -r "$root/submission" "$work/submissions/submission"

grade() {
    "$grader" grade "$work/submissions" --rubric "$root/source/rubric" --out "$work/out" \\
        --quiet --cpu-fallback --jobs 1 "$@"
}

# Sandboxed when the container allows it (bubblewrap, user namespaces, cgroups); Gradescope's
# usually does not, and `grader grade` then refuses with exit 2. Grading unconfined is the
# trade-off taken: this container holds only this student's files, the rubric and its reference
# solution, and is thrown away after this submission. The notebook could read the reference
# solution, reach the network or tamper with the grader to forge its result, though: results.json
# tells the student it ran without the sandbox, and the instructor should regrade a suspicious
# score sandboxed on their own machine.
status=0
grade >"$work/grade.log" 2>&1 || status=$?
cat "$work/grade.log"
if [ "$status" -eq 2 ] && grep -q "cannot sandbox the students' kernels" "$work/grade.log"; then
    echo "this container cannot sandbox the notebook's kernel: grading again with --no-sandbox"
    grade --no-sandbox
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi
mkdir -p "$root/results"
"$grader" gradescope results "$work/out" --to "$root/results/results.json"
"""


class BuildError(Exception):
    """An autograder that cannot be built as asked; the message says what was expected."""


def setup_script(grader_package: str, assets: Sequence[Asset] = ()) -> str:
    """setup.sh, installing the grader from `grader_package` (a path in the unpacked zip) and putting the `assets`
    the rubric needs into the image's cache."""
    fill = "".join(f"/autograder/venv/bin/grader assets {'fetch' if asset.url else 'synth'} --only {asset.name}\n"
                   for asset in assets)
    if fill:
        fill = ("# The assets the reference solution needs (the image build has internet, the grading kernels "
                "have not).\n" + fill)
    return f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's Ubuntu image; the zip is
# unpacked in {SOURCE}.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y python3 python3-venv python3-pip bubblewrap
python3 -m venv /autograder/venv
# torch's CPU build: Gradescope's autograder containers have no GPU (the notebooks' .cuda() calls
# run on the CPU with --cpu-fallback), and the CUDA build is gigabytes more to download and store.
# torchvision comes from the same index, so that it does not pull the CUDA build of torch back in.
/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision
/autograder/venv/bin/pip install "{grader_package}"
# Run the reference solution once, into the image's cache: each submission then reuses its evidence
# instead of running it again, and a solution that does not earn full marks on its rubric fails here,
# when the autograder is uploaded. It is the instructor's own notebook, so it runs without the sandbox,
# which the image build may not allow.
export GRADER_CACHE=/autograder/cache
{fill}/autograder/venv/bin/grader rubric reference {SOURCE}/{RUBRIC} --cpu-fallback --no-sandbox
"""


def parse_problems(text: str, available: list[int]) -> set[int]:
    try:
        problems = {int(part) for part in text.split(",")}
    except ValueError:
        raise BuildError(f"--problems {text}: expected problem numbers separated by commas, e.g. 2,3") from None
    unknown = sorted(problems - set(available))
    if unknown:
        raise BuildError(f"--problems {text}: the rubric has no Problem {', '.join(map(str, unknown))}; "
                         f"it has {', '.join(map(str, available))}")
    return problems


def restricted_rubric(raw: dict, spec: Rubric, problems: set[int]) -> dict:
    """rubric.yaml's content with only the items of `problems`, its total recomputed, and choose-all
    groups and solution_data kept only where the remaining items need them. Its `gradescope` settings are
    dropped: they choose what this rubric holds."""
    kept = [item for item in spec.items if item.problem in problems]
    kept_ids = {item.id for item in kept}
    total = sum(item.points for item in kept)
    restricted = {**raw, "total": int(total) if total.is_integer() else total,
                  "items": [entry for entry in raw["items"] if entry["id"] in kept_ids]}
    if "choose_all" in raw:
        groups = [{**group, "items": [i for i in group["items"] if i in kept_ids]} for group in raw["choose_all"]]
        restricted["choose_all"] = [group for group in groups if len(group["items"]) >= 2]
    if not any(check.kind in READS_SOLUTION_DATA for item in kept for check in item.checks):
        restricted.pop("solution_data", None)
    restricted.pop("gradescope", None)
    return restricted


def restricted_solution(solution: nbformat.NotebookNode, spec: Rubric, problems: set[int]) -> nbformat.NotebookNode:
    """The reference solution without the code of the other problems (their answers and set-up cells).

    It must run without errors, and the other problems' code may not: it may read the solution's data
    (solution_data, left out when no chosen problem needs it) or download pretrained weights."""
    layout = locate(solution, [item.id for item in spec.items])
    other = [cells for item_id, cells in layout.regions.items() if spec.item(item_id).problem not in problems]
    other += [cells for problem, cells in layout.preambles.items() if problem not in problems]
    dropped = {index for cells in other for index in cells if solution.cells[index].cell_type == "code"}
    kept = nbformat.from_dict(solution)
    kept.cells = [cell for index, cell in enumerate(solution.cells) if index not in dropped]
    return kept


def stage_rubric(loaded: LoadedRubric, problems: set[int], folder: Path) -> None:
    """Write the rubric folder restricted to `problems` into `folder`."""
    source = loaded.folder
    data = loaded.spec.solution_data
    raw = yaml.safe_load((source / RUBRIC_FILE).read_text(encoding="utf-8"))
    restricted = restricted_rubric(raw, loaded.spec, problems)
    left_out = source / data if data is not None and "solution_data" not in restricted else None
    shutil.copytree(source, folder, ignore=lambda directory, names: [
        name for name in names if Path(directory) / name == left_out])
    header = (f"# {source / RUBRIC_FILE} with Problem(s) {', '.join(map(str, sorted(problems)))} only, "
              "written by `grader gradescope build` (the original's comments are not kept).\n")
    (folder / RUBRIC_FILE).write_text(
        header + yaml.safe_dump(restricted, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    solution = nbformat.read(loaded.solution_path, as_version=4)
    nbformat.write(restricted_solution(solution, loaded.spec, problems), folder / loaded.spec.solution)


def grader_source() -> dict[str, Path]:
    """The grader package's source and the project files pip builds it from, by path in the zip."""
    package = Path(grader.__file__).parent
    project = package.parent
    missing = [name for name in PROJECT_FILES if not (project / name).is_file()]
    if missing:
        raise BuildError(f"the grader at {package} is installed, not a source checkout ({', '.join(missing)} not in "
                         f"{project}): build a wheel of it and pass --wheel PATH")
    files = {f"{GRADER_SRC}/{name}": project / name for name in PROJECT_FILES}
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(project)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            files[f"{GRADER_SRC}/{relative.as_posix()}"] = path
    return files


def write_autograder_zip(out: Path, rubric_folder: Path, grader_files: dict[str, Path], setup: str) -> list[str]:
    """The zip, written whole or not at all; returns its members' names. The scripts are executable."""
    members = {"setup.sh": setup, "run_autograder": RUN_AUTOGRADER}
    files = {f"{RUBRIC}/{path.relative_to(rubric_folder).as_posix()}": path
             for path in sorted(rubric_folder.rglob("*")) if path.is_file()}
    files.update(grader_files)
    partial = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, script in members.items():
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x: Gradescope executes them
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, script.encode("utf-8"))
        for name, path in files.items():
            info = zipfile.ZipInfo.from_file(path, name)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(out)
    return [*members, *files]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(code=2)


@gradescope_app.command()
def build(
    rubric_dir: Annotated[Path, typer.Argument(help="Rubric folder (rubric.yaml, template, solution).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The zip to write, e.g. autograder.zip \\[required].",
                                                show_default=False)] = None,
    problems: Annotated[Optional[str], typer.Option(
        help="Problems graded on Gradescope, e.g. 2,3; the other items are left out of the rubric. "
             "Default: the rubric's gradescope.problems, else all.")] = None,
    wheel: Annotated[Optional[Path], typer.Option(help="A wheel of the grader to install instead of this "
                                                       "checkout's source.")] = None,
) -> None:
    """Write the autograder zip: setup.sh, run_autograder, the restricted rubric and the grader."""
    if out is None:  # no default: a zip of another exam in the current folder would be replaced
        raise _fail("`grader gradescope build` needs --out FILE: the autograder zip to write, e.g. --out autograder.zip")
    try:
        loaded = load_rubric(rubric_dir)
        chosen = (parse_problems(problems, loaded.spec.problems) if problems is not None else
                  set(loaded.spec.gradescope.problems or loaded.spec.problems))
        if wheel is not None and not (wheel.is_file() and wheel.suffix == ".whl"):
            raise BuildError(f"--wheel {wheel}: expected a wheel file (*.whl)")
        grader_files = {f"{GRADER_SRC}/{wheel.name}": wheel} if wheel else grader_source()
        with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as staging:
            folder = Path(staging) / RUBRIC
            stage_rubric(loaded, chosen, folder)
            restricted = load_rubric(folder)
            package = f"{SOURCE}/{GRADER_SRC}" + (f"/{wheel.name}" if wheel else "")
            members = write_autograder_zip(out, folder, grader_files, setup_script(package, needed_assets(restricted)))
    except (RubricError, BuildError) as err:
        raise _fail(str(err)) from None
    spec = restricted.spec
    manual = [item for item in spec.items if any(check.kind == "manual" for check in item.checks)]
    console.print(f"wrote {out} ({len(members)} files): Problem(s) {', '.join(map(str, sorted(chosen)))}, "
                  f"{len(spec.items)} items, {spec.total:g} points", highlight=False)
    if manual:
        console.print(f"graded by a TA in Gradescope: {', '.join(f'{item.id} ({item.points:g})' for item in manual)}; "
                      f"give the autograder {spec.total - sum(item.points for item in manual):g} points",
                      highlight=False)


@gradescope_app.command()
def results(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `grader grade` holding one graded submission.")],
    to: Annotated[Path, typer.Option("--to", help="The results.json to write (on Gradescope: "
                                                 "/autograder/results/results.json).")],
) -> None:
    """Write Gradescope's results.json for the one submission graded into OUT_DIR."""
    path = out_dir / GRADEBOOK_FILE
    if not path.is_file():
        raise _fail(f"no gradebook at {path}; run `grader grade … --out {out_dir}` first")
    with Gradebook(path) as book:
        rubric = book.rubric()
        graded = book.results()
    if rubric is None:
        raise _fail(f"{path} holds no rubric: no submission was graded into it")
    if len(graded) != 1:
        raise _fail(f"{path} holds {len(graded)} submissions ({', '.join(r.student for r in graded) or 'none'}); "
                    "expected exactly one: Gradescope grades one submission at a time")
    write_gradescope_results(to, rubric, graded[0])
    console.print(f"wrote {to}: {graded[0].total:g}/{graded[0].max:g} points", highlight=False)
