"""A notebook's code cells as Python syntax trees, for what the grader reads from the code itself (the modules a
solution imports, the assets it uses)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import nbformat


def code_cell_trees(notebook: nbformat.NotebookNode) -> Iterator[ast.Module]:
    """Each code cell that parses, its IPython magics and shell escapes left out (they are not Python)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            yield ast.parse(source)
        except SyntaxError:
            continue
