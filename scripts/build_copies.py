"""Build the two copied notebooks among the midterm's samples, from the samples they copy:

    .venv/bin/python scripts/build_copies.py

- 나태오(2022024): 이서연(2022002)'s notebook under the copier's own names, with new comments and spacing, its
  (2) and (3) merged into one cell, True/False answered as True/False instead of 'O'/'X', and run again by the
  copier before handing it in (its stored outputs are its own run's).
- 민하진(2022025)/: 한예린(2022014)'s notebook with its stored outputs (the training table, the CAM pictures)
  as handed in by 한예린, names changed, comments added and the crawl's fallback deleted, handed in without the
  images folder: nothing of Problem 1 can run again, and its numbers and pictures are 한예린's own unseeded run.

Run after scripts/build_midterm.py and scripts/build_problem1.py (which write the originals).
"""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.build_midterm import SUBMISSIONS, execute  # noqa: E402
from scripts.disguise import assigned_names, recommented, renamed  # noqa: E402

RUN_AGAIN = ("이서연(2022002).ipynb", "나태오(2022024).ipynb")
OUTPUTS_KEPT = ("한예린(2022014)/midterm.ipynb", "민하진(2022025)/midterm.ipynb")


def disguised(nb: nbformat.NotebookNode, rng: random.Random, suffix: str) -> nbformat.NotebookNode:
    """`nb` with the student's own names made the copier's, comments and spacing changed; outputs kept."""
    nb = copy.deepcopy(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    names = assigned_names("\n".join(cell.source for cell in code)) - {"x", "y", "ϵ"}  # the exam's data stays
    mapping = {name: f"{name}{suffix}" for name in sorted(names) if len(name) > 1}
    for cell in code:
        cell.source = recommented(rng, renamed(cell.source, mapping))
    return nb


def merged_items(nb: nbformat.NotebookNode, first: str, second: str) -> nbformat.NotebookNode:
    """The answer cell of `second` appended to `first`'s, and its question left without an answer cell."""
    cells = {tag.split(":")[1]: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])
             if tag.startswith("answer:")}
    cells[first].source += "\n" + cells[second].source
    nb.cells = [cell for cell in nb.cells if cell is not cells[second]]
    return nb


def without_crawl(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """1.1's answer without its `if not path.exists():` block, which would crawl the images again."""
    for cell in nb.cells:
        if "answer:1.1" in cell.metadata.get("tags", []):
            kept, skipping = [], False
            for line in cell.source.splitlines():
                if line.startswith("if not "):
                    skipping = True
                    continue
                if skipping and line.startswith((" ", "\t")):
                    continue
                skipping = False
                kept.append(line)
            cell.source = "\n".join(kept)
    return nb


def true_false_as_words(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() in ("'O'", "'X'"):
            cell.source = "True" if cell.source.strip() == "'O'" else "False"
    return nb


def main() -> None:
    rng = random.Random(2022)
    original, copy_path = RUN_AGAIN
    nb = nbformat.read(SUBMISSIONS / original, as_version=4)
    nb = merged_items(disguised(true_false_as_words(nb), rng, "_2"), "2.2", "2.3")
    nbformat.write(execute(nb), SUBMISSIONS / copy_path)

    original, copy_path = OUTPUTS_KEPT
    nb = nbformat.read(SUBMISSIONS / original, as_version=4)
    (SUBMISSIONS / copy_path).parent.mkdir(exist_ok=True)
    nbformat.write(disguised(without_crawl(nb), rng, "_mine"), SUBMISSIONS / copy_path)


if __name__ == "__main__":
    main()
