"""The rubric skeleton `grader assign` writes, and the rerun that keeps what the author has made of it.

One check per item, guessed from the item's solution text (what lies between its solution markers):

* the grader's own True/False reader reads it as an answer → `true_false` with that answer;
* it is a list of two or more numbers (`2, 4`) → `multiple_choice` with those numbers;
* code → `value` of the last name the solution assigns at its top level (tuple targets count; the other
  names are listed in a comment), or of its last expression when it assigns none;
* anything else → `manual`, with the solution as the TA's guidance.

Every check has 1 point and `total` is their sum: the author sets the real weights.

A rerun reads the author's file with ruamel.yaml's round-trip loader, for its structure and the line each item
starts on, and edits it as text: items the master gained are inserted after the item before them in the master,
and every other byte stays as the author left it. (Dumping the round-trip document instead would re-flow the
flow mappings an author wrapped by hand.) Items the master lost are left alone and reported.
`total` counts the new items only while it is still the skeleton's (one point per item); one the author set
stays, and a sum of points that no longer matches it is reported.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from grader.notebook.truefalse import read_choice_list, read_true_false

SKELETON_POINTS = 1
GUIDANCE_LIMIT = 300  # characters of the solution quoted as a manual check's guidance
RUBRIC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # as `Rubric.id` requires
_NUMBER = re.compile(r"\d+")
_TOTAL_VALUE = re.compile(r"[^\s#,}]+")

DOWNLOADS_COMMENT = """\
# The URLs the master's code downloads. Grading kernels have no network: they get the asset cache's copies.
# Run `grader assets fetch --rubric FOLDER` (this rubric's folder) on a machine with internet: it caches them and
# prints each one's sha256, to add here as `sha256: "…"` so that grading uses those bytes and no others.
"""
HEADER = """\
# Rubric skeleton written by `grader assign` from {master}: complete it before grading.
# - points: every check has {points} point; weigh them, and keep `total` their sum;
# - tolerances: the default below, or a check's own `tolerance:` where a value needs another;
# - visibility: items and checks are hidden in students' self-check unless marked `visibility: public`;
# - the checks are guessed from the master's solutions: correct their kinds, answers and expressions.
# `grader rubric lint` checks it. Rerunning `grader assign` keeps your edits and adds the items the master gains.
"""


class SkeletonError(Exception):
    """An existing rubric.yaml a rerun cannot add items to; the message names the file and the line."""


@dataclass(frozen=True)
class SkeletonCheck:
    kind: str
    name: str
    fields: dict[str, object] = field(default_factory=dict)  # the kind's own fields, in the order written
    candidates: tuple[str, ...] = ()  # for a value check: the other names the solution assigns
    points: int = SKELETON_POINTS


@dataclass(frozen=True)
class SkeletonItem:
    id: str
    title: str
    check: SkeletonCheck


@dataclass(frozen=True)
class TopLevel:
    """What code does at its top level: the names it assigns, in the order of their last assignment, and the
    source of its last expression statement."""

    names: tuple[str, ...]
    last_expression: str | None


@dataclass(frozen=True)
class RubricUpdate:
    text: str  # the file's new content; the same text when nothing changed
    new: list[str]
    kept: list[str]
    missing: list[str]
    warnings: list[str]


# -- guessing a check -----------------------------------------------------------------------------------------


def guess_check(snippets: list[tuple[str, str]]) -> SkeletonCheck:
    """The check an item's solution suggests. snippets: (cell type, text between markers), in notebook order."""
    true_false = read_true_false(snippets)
    if true_false.status == "answered":
        return SkeletonCheck("true_false", "true or false", {"answer": true_false.value})
    choices = _choice_list(snippets)
    if choices is not None:
        return SkeletonCheck("multiple_choice", "choose all that apply", {"answer": choices})
    code = [text for kind, text in snippets if kind == "code"]
    top_level = top_level_of(code)
    if top_level.names:
        *others, name = top_level.names
        return SkeletonCheck("value", f"value of {name}", {"expression": name}, candidates=tuple(others))
    if top_level.last_expression is not None:
        expression = top_level.last_expression
        return SkeletonCheck("value", f"value of {expression}", {"expression": expression})
    guidance = "\n".join(text.strip() for _, text in snippets if text.strip())
    if len(guidance) > GUIDANCE_LIMIT:
        guidance = guidance[: GUIDANCE_LIMIT - 1] + "…"
    return SkeletonCheck("manual", "written answer", {"guidance": guidance} if guidance else {})


def _choice_list(snippets: list[tuple[str, str]]) -> list[int] | None:
    """Two or more statement numbers, e.g. `2, 4`. Code that assigns them (`sizes = [64, 32]`) is code, not a
    choice, though a student's `ans = [2, 4]` reads as one."""
    readable = [(kind, text) for kind, text in snippets if kind != "code" or not top_level_of([text]).names]
    numbers = {int(number) for _, text in readable for number in _NUMBER.findall(text)}  # statements are not counted
    choices = read_choice_list(readable, numbers)
    return sorted(choices) if choices is not None and len(choices) >= 2 else None


def top_level_of(code: list[str]) -> TopLevel:
    """The names assigned and the last expression at the top level of code snippets, each dedented (a solution
    may sit inside a loop). A snippet that does not parse on its own is skipped."""
    names: dict[str, None] = {}
    last_expression: str | None = None
    for snippet in code:
        source = textwrap.dedent(snippet)
        try:
            module = ast.parse(source)
        except SyntaxError:
            continue
        for statement in module.body:
            for name in _assigned(statement):
                names.pop(name, None)  # moved to the end: the order is that of the last assignment
                names[name] = None
            if isinstance(statement, ast.Expr):
                last_expression = ast.get_source_segment(source, statement.value)
    return TopLevel(tuple(names), last_expression)


def _assigned(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.Assign):
        return [name for target in statement.targets for name in _target_names(target)]
    if (isinstance(statement, ast.AnnAssign) and statement.value is not None) or isinstance(statement, ast.AugAssign):
        return _target_names(statement.target)
    return []


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []  # an attribute or a subscript changes an object, it assigns no name


# -- writing YAML ---------------------------------------------------------------------------------------------


def skeleton_rubric(rubric_id: str, title: str, items: list[SkeletonItem], master_name: str,
                    master_path: str, downloads: list[str]) -> str:
    """A new rubric.yaml: the header, the exam's settings, the URLs the master downloads (unpinned) and one
    skeleton item per item. master_path: the master, relative to the rubric's folder (lint reads it)."""
    total = sum(item.check.points for item in items)
    return (HEADER.format(master=master_name, points=SKELETON_POINTS)
            + f"id: {_scalar(rubric_id)}\n"
            + f"title: {_scalar(title)}\n"
            + f"total: {total}\n"
            + "template: template.ipynb\n"
            + "solution: solution.ipynb\n"
            + f"master: {_scalar(master_path)}\n"
            + "tolerance: {rtol: 1.0e-5, atol: 1.0e-4}\n"
            + downloads_yaml(downloads)
            + "\nitems:\n"
            + "".join(item_yaml(item, indent=2) for item in items))


def downloads_yaml(urls: list[str]) -> str:
    """`execution: downloads:` with each URL unpinned, and what to run to pin them; "" without URLs."""
    if not urls:
        return ""
    return (DOWNLOADS_COMMENT
            + "execution:\n  downloads:\n"
            + "".join(f"    - {{url: {_scalar(url)}}}\n" for url in urls))


def item_yaml(item: SkeletonItem, indent: int) -> str:
    """One item of the `items` list, its dash `indent` spaces in."""
    pad = " " * indent
    check = item.check
    lines = [f"{pad}- id: {_scalar(item.id)}",
             f"{pad}  title: {_scalar(item.title)}",
             f"{pad}  checks:",
             f"{pad}    - kind: {check.kind}",
             f"{pad}      name: {_scalar(check.name)}"]
    for key, value in check.fields.items():
        line = f"{pad}      {key}: {_scalar(value)}"
        if key == "expression" and check.candidates:
            line += f"  # other candidates: {', '.join(check.candidates)}"
        lines.append(line)
    lines.append(f"{pad}      points: {check.points}")
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(element) for element in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


# -- a rerun --------------------------------------------------------------------------------------------------


def update_rubric(text: str, path: Path, items: list[SkeletonItem], master_name: str,
                  downloads: list[str]) -> RubricUpdate:
    """The author's rubric.yaml with the items the master gained, each after the item before it in the master.

    `total` changes only while it is still the skeleton's (one point per item): then it counts the new items
    too. Otherwise it is the author's, and a sum of points that no longer matches it is reported. The URLs the
    master downloads (`downloads`) that execution.downloads does not list are reported, not added: the author
    may have left one out on purpose."""
    document = _round_trip(text, path)
    entries = document.get("items")
    if not isinstance(entries, CommentedSeq):
        raise SkeletonError(f"{path}: expected `items:` with a list of items")
    existing = [_entry_id(entries, position, path) for position in range(len(entries))]
    master_ids = [item.id for item in items]
    new = [item for item in items if item.id not in existing]
    missing = [item_id for item_id in existing if item_id not in master_ids]
    warnings = [f"item {item_id} is in {path.name} but not in {master_name}: remove it or add it back"
                for item_id in missing]
    lines = text.splitlines(keepends=True)
    if new and (not entries or entries.fa.flow_style()):  # `items: []` is flow style too
        raise SkeletonError(f"{path}: line {document.lc.value('items')[0] + 1}: write `items:` as a block list "
                            "(each item on lines of its own, starting `- id:`) so that new items can be added")

    total = document.get("total")
    has_number_total = isinstance(total, (int, float)) and not isinstance(total, bool)
    if new and has_number_total and total == len(existing) * SKELETON_POINTS:
        line, column = document.lc.value("total")
        written = _TOTAL_VALUE.match(lines[line], column)
        if written is not None:
            total = total + sum(item.check.points for item in new)
            lines[line] = lines[line][:column] + str(total) + lines[line][written.end():]
    if new:
        lines = _with_items_inserted(lines, document, entries, existing, master_ids, new)

    points = sum(_points(entry) for entry in entries) + sum(item.check.points for item in new)
    if has_number_total and abs(points - total) > 1e-9:
        warnings.append(f"the items' points add up to {points:g} but `total` says {total:g}: make them agree "
                        f"in {path.name}")
    unlisted = [url for url in downloads if url not in _listed_downloads(document)]
    if unlisted:
        warnings.append(f"{master_name}'s code downloads {', '.join(unlisted)}, which {path.name}'s "
                        "execution.downloads does not list: grading kernels have no network. Add each as "
                        f"`- {{url: …}}` and run `grader assets fetch --rubric {path.parent}` to cache and pin them")
    return RubricUpdate(text="".join(lines), new=[item.id for item in new],
                        kept=[item_id for item_id in master_ids if item_id in existing], missing=missing,
                        warnings=warnings)


def _listed_downloads(document: CommentedMap) -> set[str]:
    execution = document.get("execution")
    listed = execution.get("downloads") if isinstance(execution, dict) else None
    return {str(entry.get("url")) for entry in listed or () if isinstance(entry, dict)}


def _round_trip(text: str, path: Path) -> CommentedMap:
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise SkeletonError(f"{path}:{where} not valid YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(document, CommentedMap):
        raise SkeletonError(f"{path}: expected a mapping at the top level (id, title, items, …)")
    return document


def _entry_id(entries: CommentedSeq, position: int, path: Path) -> str:
    entry = entries[position]
    if not isinstance(entry, CommentedMap) or "id" not in entry:
        raise SkeletonError(f"{path}: line {entries.lc.item(position)[0] + 1}: expected an item with an `id`")
    return str(entry["id"])


def _points(entry: CommentedMap) -> float:
    """What an item of the author's rubric counts for in the total (a void item's removed points do not)."""
    checks = entry.get("checks")
    if not isinstance(checks, list) or (entry.get("void") is True and entry.get("void_points") == "removed"):
        return 0
    return sum(check["points"] for check in checks
               if isinstance(check, dict) and isinstance(check.get("points"), (int, float)))


def _with_items_inserted(lines: list[str], document: CommentedMap, entries: CommentedSeq, existing: list[str],
                         master_ids: list[str], new: list[SkeletonItem]) -> list[str]:
    first_line, first_column = entries.lc.item(0)
    dash = lines[first_line].rfind("-", 0, first_column)
    indent = dash if dash >= 0 else max(first_column - 2, 0)
    ends = _item_ends(lines, document, entries, indent)
    inserted: dict[int, list[str]] = {}  # line index -> items to insert before it, in the master's order
    for item in new:
        before = [item_id for item_id in master_ids[: master_ids.index(item.id)] if item_id in existing]
        at = ends[existing.index(before[-1])] if before else first_line
        inserted.setdefault(at, []).append(item_yaml(item, indent))
    result: list[str] = []
    for index in range(len(lines) + 1):
        if index in inserted:
            if result and not result[-1].endswith("\n"):
                result[-1] += "\n"
            result.extend(inserted[index])
        if index < len(lines):
            result.append(lines[index])
    return result


def _item_ends(lines: list[str], document: CommentedMap, entries: CommentedSeq, indent: int) -> list[int]:
    """The line after each item's last: blank lines, and comments at the items' indentation or less, that come
    before the next item or key introduce it and stay with it."""
    starts = [entries.lc.item(position)[0] for position in range(len(entries))]
    keys = list(document)
    following = keys[keys.index("items") + 1:]
    after_items = document.lc.key(following[0])[0] if following else len(lines)
    ends = []
    for start, boundary in zip(starts, starts[1:] + [after_items]):
        end = boundary
        while end > start + 1 and _introduces_next(lines[end - 1], indent):
            end -= 1
        ends.append(end)
    return ends


def _introduces_next(line: str, indent: int) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#") and len(line) - len(line.lstrip()) <= indent
