"""Which assets a rubric needs, and what to say when the cache lacks one: kernels have no network, so a missing
asset would otherwise surface as a download error in the reference's cells (`URLError: … name resolution`)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from grader.assets.cache import assets_root, present
from grader.catalog import CATALOG, Asset
from grader.notebook.code import code_cell_trees
from grader.rubric import LoadedRubric


def assets_used_by(notebook: nbformat.NotebookNode) -> list[Asset]:
    """The catalogued assets whose names the notebook's code uses (`resnet34`, `URLs.MNIST_SAMPLE`)."""
    names = {node.id if isinstance(node, ast.Name) else node.attr
             for tree in code_cell_trees(notebook) for node in ast.walk(tree)
             if isinstance(node, (ast.Name, ast.Attribute))}
    return [asset for asset in CATALOG.values() if names & set(asset.used_by)]


def needed_assets(rubric: LoadedRubric) -> list[Asset]:
    """The rubric's `execution.assets`, else those its solution uses."""
    declared = rubric.spec.execution.assets
    if declared is not None:
        return [CATALOG[name] for name in declared]
    return assets_used_by(nbformat.read(rubric.solution_path, as_version=4))


def missing_assets(rubric: LoadedRubric, cache: Path, cache_option: str = "") -> str | None:
    """Why grading with `rubric` cannot start with the grader cache `cache`, or None when every asset it needs is
    there. cache_option: what to add to the commands it suggests to reach that cache (` --cache-dir DIR`)."""
    root = assets_root(cache)
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
