"""Load a rubric folder: validate the YAML, read the template, hash the content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from grader.rubric.models import Rubric

RUBRIC_FILE = "rubric.yaml"


class RubricError(Exception):
    """A rubric folder that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class LoadedRubric:
    spec: Rubric
    folder: Path
    hash: str  # "sha256:…" over rubric.yaml, the template, the solution and its data
    template: nbformat.NotebookNode

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def solution_path(self) -> Path:
        return self.folder / self.spec.solution

    @property
    def solution_data(self) -> Path | None:
        return None if self.spec.solution_data is None else self.folder / self.spec.solution_data


def load_rubric(folder: Path | str) -> LoadedRubric:
    folder = Path(folder)
    path = folder / RUBRIC_FILE
    if not path.is_file():
        raise RubricError(f"{path}: no such file (a rubric folder holds {RUBRIC_FILE}, a template and a solution)")
    raw = read_yaml(path)
    try:
        spec = Rubric.model_validate(raw)
    except ValidationError as err:
        raise RubricError(describe_errors(path, raw, err)) from None

    digest = hashlib.sha256()
    _hash_named(digest.update, folder, path, RUBRIC_FILE)
    template = read_template(_hash_named(digest.update, folder, path, spec.template))
    _hash_named(digest.update, folder, path, spec.solution)
    if spec.solution_data is not None:
        data = folder / spec.solution_data
        if not data.is_dir():
            raise RubricError(f"{path}: solution_data names {spec.solution_data!r}, which is not a folder in {folder}")
        for file in sorted(p for p in data.rglob("*") if p.is_file()):
            digest.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return LoadedRubric(spec=spec, folder=folder, hash=f"sha256:{digest.hexdigest()}", template=template)


def _hash_named(update: Callable[[bytes], None], folder: Path, rubric_path: Path, name: str) -> Path:
    """The file `name` of the rubric folder, its name and content hashed (`update`); a RubricError when the rubric
    names a file the folder does not have."""
    file = folder / name
    if not file.is_file():
        raise RubricError(f"{rubric_path}: names {name!r}, which is not in {folder}")
    update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return file


def read_yaml(path: Path) -> dict:
    """The mapping a rubric file holds, or a RubricError naming the line."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RubricError(f"{path}:{where} not valid YAML: {getattr(err, 'problem', err)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RubricError(f"{path}: cannot be read ({err})") from None
    if not isinstance(raw, dict):
        raise RubricError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def read_template(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.reads(path.read_bytes().decode("utf-8"), as_version=4)
    except Exception as err:  # nbformat raises several unrelated types
        raise RubricError(f"{path}: not a readable notebook ({err})") from None


def describe_errors(path: Path, raw: dict, err: ValidationError) -> str:
    """Each validation problem with where it is in the YAML."""
    lines = [f"{path}: {err.error_count()} problem(s)"]
    for problem in err.errors():
        lines.append(f"  at {_key_path(raw, problem['loc'])}: {problem['msg']}" + _got(problem))
    return "\n".join(lines)


def _key_path(raw: dict, loc: tuple) -> str:
    """`items[3] (id '4.2').checks[1].points`: list positions with the item id beside them."""
    parts: list[str] = []
    node: object = raw
    for position, key in enumerate(loc):
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node) and isinstance(node[key], dict) and "id" in node[key]:
                label += f" (id {node[key]['id']!r})"
            parts.append(label)
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            if isinstance(node, dict) and key not in node and parts and position < len(loc) - 1:
                # a discriminated-union tag (e.g. 'optimizer_trace'), not a key of the YAML; a missing key is last
                continue
            parts.append(("." if parts else "") + str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _got(problem: ErrorDetails) -> str:
    if problem["type"] in {"missing", "union_tag_not_found"}:
        return ""
    value = problem.get("input")
    if isinstance(value, (dict, list)):
        return ""
    return f" (got {value!r})"
