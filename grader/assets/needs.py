"""Which assets and downloads a rubric needs, and what to say when the cache lacks one: kernels have no network, so
a missing one would otherwise surface as a download error in the reference's cells (`URLError: … name
resolution`)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from grader.assets.cache import assets_root, present
from grader.assets.downloads import cached
from grader.catalog import CATALOG, Asset
from grader.notebook.code import code_cell_trees
from grader.rubric import LoadedRubric
from grader.rubric.models import download_url_problem


def assets_used_by(notebook: nbformat.NotebookNode) -> list[Asset]:
    """The catalogued assets whose names the notebook's code uses (`resnet34`, `URLs.MNIST_SAMPLE`)."""
    names = {node.id if isinstance(node, ast.Name) else node.attr
             for tree in code_cell_trees(notebook) for node in ast.walk(tree)
             if isinstance(node, (ast.Name, ast.Attribute))}
    return [asset for asset in CATALOG.values() if names & set(asset.used_by)]


def downloads_used_by(notebook: nbformat.NotebookNode) -> list[str]:
    """The http and https URLs the notebook's code writes as whole string literals, in the order they first
    appear. An f-string counts only without placeholders: `f"https://host/{name}.csv"` names no one file."""
    found: dict[str, None] = {}
    for tree in code_cell_trees(notebook):
        f_string_parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        literals = sorted((node.lineno, node.col_offset, text) for node in ast.walk(tree)
                          if isinstance(node, ast.expr) and id(node) not in f_string_parts
                          and (text := _literal_text(node)) is not None)
        found.update((text, None) for _, _, text in literals if download_url_problem(text) is None)
    return list(found)


def _literal_text(node: ast.expr) -> str | None:
    """A string constant's text, or an f-string's when it has no placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and all(isinstance(part, ast.Constant) for part in node.values):
        return "".join(str(part.value) for part in node.values if isinstance(part, ast.Constant))
    return None


def needed_assets(rubric: LoadedRubric) -> list[Asset]:
    """The rubric's `execution.assets`, else those its solution uses."""
    declared = rubric.spec.execution.assets
    if declared is not None:
        return [CATALOG[name] for name in declared]
    return assets_used_by(nbformat.read(rubric.solution_path, as_version=4))


def missing_assets(rubric: LoadedRubric, cache: Path, cache_option: str = "") -> str | None:
    """Why grading with `rubric` cannot start with the grader cache `cache`, or None when every asset and every
    download it needs is there. cache_option: what to add to the commands it suggests to reach that cache
    (` --cache-dir DIR`)."""
    root = assets_root(cache)
    reasons = [_assets_missing(rubric, root, cache_option), _downloads_missing(rubric, root, cache_option)]
    return "; and ".join(reason for reason in reasons if reason is not None) or None


def _assets_missing(rubric: LoadedRubric, root: Path, cache_option: str) -> str | None:
    missing = [asset for asset in needed_assets(rubric) if present(root, asset) is None]
    if not missing:
        return None
    who = ("the rubric's execution.assets names" if rubric.spec.execution.assets is not None
           else f"the reference solution ({rubric.spec.solution}) needs")
    what = " and ".join(f"{asset.name} ({asset.description})" for asset in missing)
    which = "which is" if len(missing) == 1 else "which are"
    run = f"`grader assets synth{cache_option}` (offline stand-ins)"
    if any(asset.url is not None for asset in missing):
        run += f" or `grader assets fetch{cache_option}` (the real files, on a machine with internet)"
    return f"{who} {what}, {which} not in the asset cache {root}: run {run}"


def _downloads_missing(rubric: LoadedRubric, root: Path, cache_option: str) -> str | None:
    missing = [download for download in rubric.spec.execution.downloads
               if cached(root, download.url, download.sha256) is None]
    if not missing:
        return None
    which = "which is" if len(missing) == 1 else "which are"
    pinned = " as pinned" if any(download.sha256 is not None for download in missing) else ""
    return (f"the rubric's execution.downloads lists {', '.join(download.url for download in missing)}, {which} "
            f"not in the asset cache {root}{pinned}: run `grader assets fetch --rubric {rubric.folder}{cache_option}` "
            "on a machine with internet")
