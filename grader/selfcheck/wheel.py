"""The wheel of `grader` that a bundle ships, and what installing it needs besides the student's own libraries.

The wheel is this grader, the one that wrote the bundle's public rubric: built
from its source (an editable or source checkout), or the wheel it was installed
from, given by the staff member (a wheel install keeps no source to build from).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import grader

DISTRIBUTION = "grader"
# The exam's own libraries: students install them (a CPU or CUDA build of their choosing; Colab has them), and a
# bundle's install never pulls them, though grading's environment needs them.
STUDENTS_LIBRARIES = ("torch", "torchvision", "fastai")
# What pyproject.toml builds the wheel from (its packages and its readme).
PROJECT_FILES = ("pyproject.toml", "README.md")
_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.+\.whl$")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class WheelError(Exception):
    """No wheel of this grader could be had; the message says what to do."""


def running_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def build_grader_wheel(into: Path) -> Path:
    """A wheel of the running grader, built from its source into `into` (a scratch folder)."""
    package = Path(grader.__file__).resolve().parent
    project = package.parent
    if not all((project / name).is_file() for name in PROJECT_FILES):
        raise WheelError(
            f"grader runs from {package}, an installed wheel with no source to build the students' wheel from: give "
            f"the wheel it was installed from with --wheel (grader-{running_version()}-py3-none-any.whl), or run "
            "grader release from a source checkout (pip install -e .)")
    # Built from a copy: setuptools' build/ folder in the checkout would keep modules deleted since.
    source = into / "source"
    source.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(project / name, source / name)
    shutil.copytree(package, source / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Offline with the setuptools already here; without it pip fetches one.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(into), str(source)], capture_output=True, text=True)
    wheels = sorted(into.glob(f"{DISTRIBUTION}-*.whl"))
    if built.returncode != 0 or len(wheels) != 1:
        raise WheelError(f"building grader's wheel from {project} failed (pip wheel exited {built.returncode}):\n"
                         + (built.stderr or built.stdout).strip()[-2000:])
    return checked_wheel(wheels[0])


def checked_wheel(wheel: Path) -> Path:
    """`wheel`, when it is this grader's: the bundle's public rubric is written for this grader to read."""
    match = _WHEEL_NAME.match(wheel.name)
    if not wheel.is_file() or match is None or match["name"] != DISTRIBUTION:
        raise WheelError(f"{wheel}: not a wheel of grader (grader-VERSION-py3-none-any.whl)")
    if match["version"] != running_version():
        raise WheelError(f"{wheel} is grader {match['version']}, and this grader, which writes the bundle, is "
                         f"{running_version()}: give the wheel this grader was installed from")
    return wheel


def requirements_besides_students(wheel: Path) -> list[str]:
    """The wheel's requirements (extras aside) other than the students' own libraries, as pip reads them."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
            message = Parser().parsestr(archive.read(metadata).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, StopIteration, UnicodeDecodeError) as err:
        raise WheelError(f"{wheel}: not a readable wheel ({err or 'no METADATA'})") from None
    requirements = []
    for requirement in message.get_all("Requires-Dist") or []:
        name = _REQUIREMENT_NAME.match(requirement)
        if "extra ==" in requirement or name is None:
            continue
        if _normalized(name.group(1)) not in STUDENTS_LIBRARIES:
            requirements.append(requirement.strip())
    return requirements


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503
