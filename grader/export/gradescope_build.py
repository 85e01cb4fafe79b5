"""The autograder zip that runs this grader inside Gradescope (`grader gradescope build`, grader/cli/gradescope.py).

`build` writes the zip Gradescope's autograder specification asks for
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): `setup.sh` and an
executable `run_autograder` at its root. Gradescope unpacks it into /autograder/source,
runs `setup.sh` once as root to build an Ubuntu image, then runs `run_autograder` for each
submission in a fresh container from that image, the student's files in
/autograder/submission, and shows /autograder/results/results.json.

Beside the scripts go the rubric, restricted to the chosen problems (by default the rubric's
`gradescope.problems`: Gradescope's CPU containers cannot, say, fine-tune a pretrained network
in time), and the grader itself, as source or a wheel.

How the student's kernel is confined: `run_autograder` grades in the grader's sandbox when the
container allows bubblewrap's user namespaces. Gradescope's usually does not, and `grader grade`
then refuses with exit 2; `run_autograder` grades again with `--confine uid`: the kernel runs as
an unprivileged uid of its own without namespaces (`grader.run.uid_confinement`), while the
rubric (its true/false keys), the solution, the reference cache (the expected numbers), this
grading's gradebook and results and the metadata of earlier submissions are root-only, which
`run_autograder` sees to before grading. Gradescope's own advice is the same ("run your
autograder as a non-root user", `chmod o=` the source folder). The notebook can still reach the
network and the files every user may read. Its results.json says which confinement ran
(`extra_data.confinement`, and a line of the output); regrade a suspicious score sandboxed on
your machine.

Lateness: Gradescope's results.json has no late fields, and its documentation says nothing of
a late penalty applied to an autograder's score. `run_autograder` hands the submission's
metadata (/autograder/submission_metadata.json: `created_at`, the assignment's `due_date`) to
`grader gradescope results`, which applies the rubric's late policy (against the rubric's
deadline, else Gradescope's due date) as a "Late submission" test and a line of the output;
with the rubric's `gradescope: {late: gradescope}` (or `build --late gradescope`) it deducts
nothing and says so, leaving lateness to the course's Gradescope settings.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import get_args

import nbformat
import yaml

import grader
from grader.assets.needs import needed_assets
from grader.catalog import Asset
from grader.export.gradescope import (
    Lateness,
)
from grader.notebook.locate import locate
from grader.rubric import LoadedRubric, load_rubric
from grader.rubric.load import RUBRIC_FILE
from grader.rubric.models import Rubric

SOURCE = "/autograder/source"
GRADER_SRC = "grader-src"
RUBRIC = "rubric"
# The solution reads its `solution_data` (the crawled images) only for these checks: without any of them
# among the chosen problems, the folder is left out.
READS_SOLUTION_DATA = frozenset({"image_folder", "dataloaders", "learner", "cam"})
# pyproject.toml names README.md as the package's readme: building from source needs both.
PROJECT_FILES = ("pyproject.toml", "README.md")
LATENESS = get_args(Lateness)

# Pinned in setup.sh to the versions where the zip is built: the reference's numbers depend on them.
PINNED = ("torch", "torchvision", "fastai")


def run_script(lateness: Lateness) -> str:
    """run_autograder. lateness: who decides what a late submission costs (`grader gradescope results --late`)."""
    return f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in a fresh container made from the image
# setup.sh built, with the student's files in /autograder/submission.
# AUTOGRADER_ROOT stands in for /autograder, to try this zip on your own machine first.
set -euo pipefail
exec 2>&1  # the grader's console is stderr; Gradescope shows the instructor what this prints
root="${{AUTOGRADER_ROOT:-/autograder}}"
export GRADER_CACHE="$root/cache"  # holds the reference solution's evidence, computed by setup.sh
grader="$root/venv/bin/grader"
# Root-only, should the notebook run without the sandbox: the rubric (its true/false keys), the solution and its
# data, the reference's expected numbers, this grading's results, and the metadata of earlier submissions (it holds
# their results). Gradescope reads the results as root.
mkdir -p "$root/results" "$GRADER_CACHE/references"
chmod -R go= "$root/source" "$root/results" "$GRADER_CACHE/references"
[ ! -e "$root/submission_metadata.json" ] || chmod go= "$root/submission_metadata.json"
work="$(mktemp -d)"  # mode 700: the submission's copy, the gradebook and the reports are root's alone
trap 'rm -rf "$work"' EXIT
# `grader grade` takes a folder with one entry per student; this submission is the only one.
mkdir "$work/submissions"
cp -r "$root/submission" "$work/submissions/submission"

grade() {{
    "$grader" grade "$work/submissions" --rubric "$root/source/rubric" --out "$work/out" \\
        --quiet --cpu-fallback --jobs 1 "$@"
}}

# Sandboxed when the container allows it (bubblewrap's user namespaces, cgroups); Gradescope's usually does
# not, and `grader grade` then refuses with exit 2. The kernel then runs as an unprivileged uid of its own,
# without namespaces: it cannot read the root-only files above, but it can reach the network. results.json
# says which ran.
status=0
grade >"$work/grade.log" 2>&1 || status=$?
cat "$work/grade.log"
if [ "$status" -eq 2 ] && grep -q "cannot sandbox the students' kernels" "$work/grade.log"; then
    echo "this container cannot run the sandbox: grading again with --confine uid (the notebook's kernel as an" \\
         "unprivileged uid of its own, without namespaces)"
    grade --confine uid
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi
# When it was submitted, and the assignment's due date: what a late deduction is measured by.
metadata=()
[ ! -f "$root/submission_metadata.json" ] || metadata=(--metadata "$root/submission_metadata.json")
"$grader" gradescope results "$work/out" --to "$root/results/results.json" --late {lateness} \\
    ${{metadata[@]+"${{metadata[@]}}"}}
"""


def pinned_versions() -> dict[str, str]:
    """The versions of torch, torchvision and fastai here, without a local label (`2.5.1+cu124` is `2.5.1`: the
    CPU index has its own build of the same release)."""
    try:
        return {name: metadata.version(name).split("+", 1)[0] for name in PINNED}
    except metadata.PackageNotFoundError as err:
        raise BuildError(f"{err.name} is not installed here, so its version cannot be pinned in setup.sh: "
                         "build the zip from the environment you grade with") from None


class BuildError(Exception):
    """An autograder that cannot be built as asked; the message says what was expected."""


def setup_script(grader_package: str, assets: Sequence[Asset] = (), versions: dict[str, str] | None = None,
                 downloads: bool = False) -> str:
    """setup.sh, installing the grader from `grader_package` (a path in the unpacked zip) with torch, torchvision and
    fastai at `versions` (default: this environment's), and putting the `assets` the rubric needs, and with
    `downloads` the URLs its execution.downloads lists, into the image's cache."""
    versions = versions or pinned_versions()
    fill = "".join(f"/autograder/venv/bin/grader assets {'fetch' if asset.url else 'synth'} --only {asset.name}\n"
                   for asset in assets)
    if downloads:
        fill += f"/autograder/venv/bin/grader assets fetch --rubric {SOURCE}/{RUBRIC}\n"
    if fill:
        fill = ("# The assets the reference solution needs (the image build has internet, the grading kernels "
                "have not).\n" + fill)
    return f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's Ubuntu image; the zip is
# unpacked in {SOURCE}.
#
# torch, torchvision and fastai are pinned to the versions `grader gradescope build` found where it
# ran: the reference solution's numbers, computed below, depend on them, and so do the students'.
# To change a version, edit its line here (or build the zip again from an environment that has the
# versions you want) and upload the zip again: the reference runs again with them, and this script
# fails if it no longer earns full marks.
TORCH_VERSION={versions["torch"]}
TORCHVISION_VERSION={versions["torchvision"]}
FASTAI_VERSION={versions["fastai"]}
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# util-linux: setpriv and prlimit, with which the kernel runs as its own uid where the sandbox cannot.
apt-get install -y python3 python3-venv python3-pip bubblewrap util-linux
python3 -m venv /autograder/venv
# torch's CPU build: Gradescope's autograder containers have no GPU (the notebooks' .cuda() calls
# run on the CPU with --cpu-fallback), and the CUDA build is gigabytes more to download and store.
# torchvision comes from the same index, so that it does not pull the CUDA build of torch back in.
/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu \\
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
/autograder/venv/bin/pip install "fastai==$FASTAI_VERSION" "{grader_package}"
# Run the reference solution once, into the image's cache: each submission then reuses its evidence
# instead of running it again, and a solution that does not earn full marks on its rubric fails here,
# when the autograder is uploaded. It is the instructor's own notebook, so it runs without the sandbox,
# which the image build may not allow.
export GRADER_CACHE=/autograder/cache
{fill}/autograder/venv/bin/grader rubric reference {SOURCE}/{RUBRIC} --cpu-fallback --no-sandbox
"""


def autograder_points(spec: Rubric) -> float:
    """The points of the items without a TA: what the tests' max_score add up to, and what the assignment's
    autograder must be given (a TA's items are a manual grading question beside it)."""
    return sum(item.points for item in spec.items if not graded_by_ta(item))


def graded_by_ta(item) -> bool:
    """A TA's item: manual, and not void (a void item is the same for everyone, so the autograder reports it)."""
    return not item.void and any(check.kind == "manual" for check in item.checks)


def restricted_rubric(raw: dict, spec: Rubric, problems: set[int]) -> dict:
    """rubric.yaml's content with only the items of `problems`, its total recomputed, and choose-all
    groups and solution_data kept only where the remaining items need them. Its `gradescope` settings are
    dropped: they choose what this rubric holds."""
    kept = [item for item in spec.items if item.problem in problems]
    kept_ids = {item.id for item in kept}
    total = sum((item.points for item in kept), 0.0)
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


def write_autograder_zip(out: Path, rubric_folder: Path, grader_files: dict[str, Path], setup: str,
                         run: str) -> list[str]:
    """The zip, written whole or not at all; returns its members' names. The scripts are executable."""
    members = {"setup.sh": setup, "run_autograder": run}
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


def build_autograder(out: Path, loaded: LoadedRubric, problems: set[int], wheel: Path | None,
                     lateness: Lateness) -> tuple[LoadedRubric, list[str]]:
    """Write the autograder zip `out` for `problems` of the rubric; the restricted rubric it holds, and its
    members. wheel: the grader to install (default: this checkout's source). Raises RubricError, BuildError."""
    grader_files = {f"{GRADER_SRC}/{wheel.name}": wheel} if wheel else grader_source()
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as staging:
        folder = Path(staging) / RUBRIC
        stage_rubric(loaded, problems, folder)
        restricted = load_rubric(folder)
        package = f"{SOURCE}/{GRADER_SRC}" + (f"/{wheel.name}" if wheel else "")
        setup = setup_script(package, needed_assets(restricted), downloads=bool(restricted.spec.execution.downloads))
        members = write_autograder_zip(out, folder, grader_files, setup, run_script(lateness))
    return restricted, members
