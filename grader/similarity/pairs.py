"""Score every pair of a class's submissions and rank them, with the evidence behind each score.

A pair's score adds what it shares, each kind with its weight (set from the corpus measured in
benchmarks/similarity.py, see benchmarks/RESULTS.md):

- code: the share of the smaller side's distinctive fingerprints that the other also has (`code.py`); the
  template's code, and fingerprints more than a few students share (what everybody writes), are not distinctive;
- outputs: stored numbers no re-execution produced (unseeded or typed in) that both handed in;
- pictures: the same stored picture where neither's re-execution drew it again;
- errors and wrong answers: the same error message, the same wrong answer to an item, weighted by how few others
  share it (an error half the class made is no evidence).

Features more than `common_cap` students share count for nobody: they are what the exam makes everyone write.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from pydantic import BaseModel

from grader.similarity.code import LEVELS, Fingerprint, cell_tokens, fingerprints, run_hashes
from grader.similarity.outputs import EMPTY, CellOutputs, DrawnPictures, near_keys

EvidenceKind = Literal["code", "outputs", "pictures", "errors", "wrong-answers"]

# Weights and the flag threshold: measured on the corpus of benchmarks/similarity.py (RESULTS.md, "Similarity").
WEIGHTS: dict[EvidenceKind, float] = {
    "code": 1.0,  # times the code similarity, 0 to 1
    "outputs": 0.1,  # per shared unexplained number ...
    "pictures": 0.8,  # per shared unexplained picture: identical pixels of an unseeded run are all but proof
    "errors": 0.3,  # per shared mistake in the code (NameError, …), times its rarity; a third for the environment's
    "wrong-answers": 0.1,  # per shared wrong answer, times its rarity
}
CAPS: dict[EvidenceKind, float] = {"code": 1.0, "outputs": 1.0, "pictures": 1.0, "errors": 0.6, "wrong-answers": 0.3}
# Errors the machine or the missing files raise, which honest students share whenever they share the machine.
ENVIRONMENT_ERRORS = ("FileNotFoundError", "ModuleNotFoundError", "ImportError", "OSError", "ConnectionError",
                      "URLError", "HTTPError", "TimeoutError", "PermissionError", "MemoryError", "KeyboardInterrupt")
FLAG_AT = 0.6
CELLS_IN_FULL = 5.0  # matching cells, counted by rarity (see _matching_cells), that make code similarity 1
MIN_SHARED = 2  # distinctive fingerprints a cell must share with the other notebook to match
COMMON_SHARE = 0.1  # a feature more than this share of the class holds (and more than MIN_COMMON) is common
MIN_COMMON = 3


@dataclass(frozen=True)
class CodeCell:
    index: int  # 0-based notebook cell
    item: str | None  # the rubric item the cell answers, if any
    source: str


@dataclass(frozen=True)
class Work:
    """One submission as the comparison reads it."""

    student: str
    label: str  # how the TA knows the student: name (key)
    cells: tuple[CodeCell, ...]
    stored: dict[int, CellOutputs] = field(default_factory=dict)  # cell index -> what was handed in
    executed: dict[int, CellOutputs] = field(default_factory=dict)  # cell index -> what the re-run showed
    errors: dict[str, bool] = field(default_factory=dict)  # the errors of both runs -> raised by the student's code
    wrong: dict[str, str] = field(default_factory=dict)  # item -> the wrong answer, as the grader described it
    name: str | None = None


@dataclass(frozen=True)
class Template:
    """What the course gave out: the template's and the solution's code and outputs belong to nobody (students
    write the lecture's code, which the solution usually is; a pair sharing it shares nothing of their own)."""

    sources: tuple[str, ...] = ()
    outputs: CellOutputs = EMPTY


class Evidence(BaseModel):
    kind: EvidenceKind
    weight: float  # what it adds to the score
    summary: str  # for the TA
    cells_a: list[int] = []  # 1-based cells of the pair's first notebook
    cells_b: list[int] = []


class Pair(BaseModel):
    a: str
    b: str
    score: float
    flagged: bool
    code: float  # 0 to 1
    items: dict[str, float] = {}  # item -> code similarity of that item's cells
    evidence: list[Evidence] = []
    lines_a: dict[int, list[int]] = {}  # 0-based cell -> 1-based lines matching the other notebook
    lines_b: dict[int, list[int]] = {}


class Ranking(BaseModel):
    students: int
    flag_at: float = FLAG_AT
    weights: dict[str, float] = {kind: weight for kind, weight in WEIGHTS.items()}
    common_cap: int
    pairs: list[Pair]  # every pair sharing anything, highest score first


@dataclass
class _Read:
    """One work's features, as the class's comparison needs them."""

    work: Work
    prints: list[Fingerprint]  # of both levels, normalised and exact
    item_of_cell: dict[int, str | None]
    numbers: dict[str, set[int]] = field(default_factory=dict)  # unexplained stored number -> its cells
    pictures: dict[str, set[int]] = field(default_factory=dict)  # unexplained stored picture digest -> its cells
    hashes: set[int] = field(default_factory=set)
    cells: dict[int, tuple[set[int], ...]] = field(default_factory=dict)  # cell -> its hashes at each of LEVELS


@dataclass(frozen=True)
class _Code:
    """The class's view of code: how many students hold each distinctive fingerprint."""

    holders: dict[int, int]  # hash -> students holding it; common ones are left out
    students: int


def rank(works: list[Work], template: Template = Template()) -> Ranking:
    """Every pair of `works` that shares something, ranked by score (ties by the students' keys)."""
    template_runs: set[int] = set()
    for index, source in enumerate(template.sources):
        tokens = cell_tokens(source, index)
        template_runs |= {value for level in range(len(LEVELS)) for value in run_hashes(tokens, level)}
    # A stored number some re-execution (any student's) printed again in the same item, or a picture one drew, is
    # explained: seeded work that honest students share. The template's and solution's outputs are everyone's.
    explained: set[tuple[str | None, str]] = {(None, key) for number in template.outputs.numbers
                                              for key in near_keys(number)}
    for work in works:
        items = {cell.index: cell.item for cell in work.cells}
        explained |= {(items.get(index), key) for index, outputs in work.executed.items()
                      for number in outputs.numbers for key in near_keys(number)}
    drawn = DrawnPictures([picture for work in works for outputs in work.executed.values()
                           for picture in outputs.pictures] + list(template.outputs.pictures))
    reads = [_read(work, template_runs, explained, drawn) for work in works]
    cap = max(MIN_COMMON, math.ceil(COMMON_SHARE * len(works)))

    features: dict[tuple[str, object], list[int]] = defaultdict(list)  # (kind, feature) -> indices of works
    for at, read in enumerate(reads):
        listed: list[tuple[str, Iterable[object]]] = [
            ("code", read.hashes), ("outputs", read.numbers), ("pictures", read.pictures),
            ("errors", read.work.errors), ("wrong-answers", read.work.wrong.items())]
        for kind, values in listed:
            for value in values:
                features[(kind, value)].append(at)
    common = {feature for feature, holders in features.items() if len(holders) > cap}
    code = _Code({value: len(holders) for (kind, value), holders in features.items()  # type: ignore[misc]
                  if kind == "code" and (kind, value) not in common}, len(works))

    shared: dict[tuple[int, int], list[tuple[str, object, int]]] = defaultdict(list)
    for feature, holders in features.items():
        if feature in common or len(holders) < 2:
            continue
        for first, second in combinations(holders, 2):
            shared[(first, second)].append((feature[0], feature[1], len(holders)))

    pairs = [pair for pair in (_pair(reads[first], reads[second], code, found)
                               for (first, second), found in shared.items()) if pair.score > 0]
    pairs.sort(key=lambda pair: (-pair.score, pair.a, pair.b))
    return Ranking(students=len(works), common_cap=cap, pairs=pairs)


def _read(work: Work, template_runs: set[int], explained: set[tuple[str | None, str]],
          drawn: DrawnPictures) -> _Read:
    read = _Read(work, [], {cell.index: cell.item for cell in work.cells})
    for cell in work.cells:  # cell by cell: a run across two cells joins two answers, as honest students do too
        tokens = cell_tokens(cell.source, cell.index)
        levels = [[found for found in fingerprints(tokens, level) if found.hash not in template_runs]
                  for level in range(len(LEVELS))]
        read.prints += [found for level in levels for found in level]
        read.cells[cell.index] = tuple({found.hash for found in level} for level in levels)
    read.hashes = {found.hash for found in read.prints}
    for index, stored in work.stored.items():
        item = read.item_of_cell.get(index)
        for number in stored.numbers:
            keys = near_keys(number)
            if not any((item, key) in explained or (None, key) in explained for key in keys):
                read.numbers.setdefault(number, set()).add(index)
        for picture in stored.pictures:
            if not drawn.again(picture):
                read.pictures.setdefault(picture.digest, set()).add(index)
    return read


def _pair(a: _Read, b: _Read, code: _Code, found: list[tuple[str, object, int]]) -> Pair:
    if b.work.student < a.work.student:
        a, b = b, a
    cells_a, matched_a = _matching_cells(a, b, code)
    cells_b, matched_b = _matching_cells(b, a, code)
    similarity = min(1.0, (cells_a + cells_b) / 2 / CELLS_IN_FULL)  # the mean: a merged cell counts once
    items: dict[str, float] = {}
    for read, matched in ((a, matched_a), (b, matched_b)):
        for cell, share in matched.items():
            item = read.item_of_cell.get(cell)
            if item:
                items[item] = round(max(items.get(item, 0.0), share), 3)
    items = dict(sorted(items.items(), key=lambda entry: _item_key(entry[0])))
    together = {value for value in a.hashes & b.hashes if value in code.holders}
    evidence: list[Evidence] = []
    if similarity > 0:
        evidence.append(Evidence(kind="code", weight=round(WEIGHTS["code"] * similarity, 3),
                                 summary=f"{len(matched_a)} and {len(matched_b)} cells match the other's code, "
                                         f"{(cells_a + cells_b) / 2:.1f} counted by rarity",
                                 cells_a=[cell + 1 for cell in matched_a], cells_b=[cell + 1 for cell in matched_b]))
    evidence += _outputs_evidence(a, b, [value for kind, value, _ in found if kind == "outputs"])
    evidence += _pictures_evidence(a, b, [value for kind, value, _ in found if kind == "pictures"])
    for kind in ("errors", "wrong-answers"):
        evidence += _rare_evidence(kind, [(value, holders) for k, value, holders in found if k == kind], a.work)
    score = round(sum(evidence_item.weight for evidence_item in evidence), 3)
    return Pair(a=a.work.student, b=b.work.student, score=score, flagged=score >= FLAG_AT,
                code=round(similarity, 3), items=items, evidence=evidence,
                lines_a=_matched_lines(a, together, matched_a), lines_b=_matched_lines(b, together, matched_b))


def _matching_cells(mine: _Read, theirs: _Read, code: _Code) -> tuple[float, dict[int, float]]:
    """How many of `mine`'s cells match `theirs`, each counted by rarity: a cell matches when at least MIN_SHARED
    of its distinctive fingerprints are in the other notebook; it counts the share of them found, on the level
    of code.LEVELS where most is found, times the rarity of its rarest shared fingerprint: log(N / holders) over
    log(N / 2) for a class of N, so 1 when only the pair writes it and less the more students do (half when
    about sqrt(2N) do). Cells add up, since students choose how to write each one apart: a copy matches in every
    cell. Returns the count and each matching cell's share."""
    scale = math.log((code.students + 1) / 2)
    count = 0.0
    matched: dict[int, float] = {}
    for cell, levels in mine.cells.items():
        best = (0.0, 0.0)
        for hashes in levels:
            own = [value for value in hashes if value in code.holders]
            shared = [value for value in own if value in theirs.hashes]
            if len(shared) < MIN_SHARED:
                continue
            share = len(shared) / len(own)
            rarest = min(code.holders[value] for value in shared)
            best = max(best, (share * math.log((code.students + 1) / rarest) / scale, share))
        if best[0] > 0:
            count += best[0]
            matched[cell] = round(best[1], 3)
    return count, matched


def _item_key(item: str) -> list:
    return [int(part) if part.isdigit() else part for part in item.split(".")]


def _matched_lines(read: _Read, hashes: set[int], cells: dict[int, float]) -> dict[int, list[int]]:
    lines: dict[int, set[int]] = defaultdict(set)
    for found in read.prints:
        if found.hash in hashes and found.lines[0][0] in cells:
            for cell, first, last in found.lines:
                lines[cell].update(range(first, last + 1))
    return {cell: sorted(numbers) for cell, numbers in sorted(lines.items())}


def _outputs_evidence(a: _Read, b: _Read, numbers: list[object]) -> list[Evidence]:
    if not numbers:
        return []
    shown = sorted(str(number) for number in numbers)
    weight = min(CAPS["outputs"], WEIGHTS["outputs"] * len(shown))
    summary = (f"{len(shown)} stored number(s) that neither re-execution produced, in both notebooks: "
               f"{', '.join(shown[:6])}{' …' if len(shown) > 6 else ''}")
    return [Evidence(kind="outputs", weight=round(weight, 3), summary=summary,
                     cells_a=sorted({cell + 1 for number in shown for cell in a.numbers[number]}),
                     cells_b=sorted({cell + 1 for number in shown for cell in b.numbers[number]}))]


def _pictures_evidence(a: _Read, b: _Read, digests: list[object]) -> list[Evidence]:
    if not digests:
        return []
    weight = min(CAPS["pictures"], WEIGHTS["pictures"] * len(digests))
    return [Evidence(kind="pictures", weight=round(weight, 3),
                     summary=f"{len(digests)} identical stored picture(s) that neither re-execution drew again",
                     cells_a=sorted({cell + 1 for digest in digests for cell in a.pictures[str(digest)]}),
                     cells_b=sorted({cell + 1 for digest in digests for cell in b.pictures[str(digest)]}))]


def _strength(kind: EvidenceKind, value: object, work: Work) -> float:
    """An error the student's own code raised (a typo'd name) counts in full; one raised inside a library or by
    the machine (a missing folder, a module not installed) a third: honest students share those too."""
    if kind == "errors" and (str(value).split(":", 1)[0].strip() in ENVIRONMENT_ERRORS
                             or not work.errors.get(str(value), True)):
        return 1 / 3
    return 1.0


def _rare_evidence(kind: EvidenceKind, found: list[tuple[object, int]], work: Work) -> list[Evidence]:
    """Shared errors or wrong answers, each weighted by its rarity: 1 when only the pair has it, 1/2 when three
    students do, and so on."""
    if not found:
        return []
    weight = min(CAPS[kind], sum(WEIGHTS[kind] / (holders - 1) * _strength(kind, value, work)
                                 for value, holders in found))
    if kind == "errors":
        described = [f"{value} ({holders} students)" for value, holders in sorted(found, key=str)]
        summary = f"the same error{'s' if len(found) > 1 else ''}: " + "; ".join(described)
    else:
        described = [f"{value[0]}: {value[1]} ({holders} students)" for value, holders in sorted(found, key=str)
                     if isinstance(value, tuple)]
        summary = "the same wrong answer" + ("s" if len(found) > 1 else "") + ": " + "; ".join(described)
    return [Evidence(kind=kind, weight=round(weight, 3), summary=summary)]
