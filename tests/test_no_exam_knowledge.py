"""The grader holds no knowledge of any one exam: an exam is data, in its rubric folder.

The forbidden strings are derived from the rubrics themselves, so a new exam extends the test by being added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GRADER = ROOT / "grader"
RUBRICS = ROOT / "rubrics"
SCANNED_SUFFIXES = (".py", ".j2", ".css", ".html")
# Shorter check names ("two classes") are ordinary phrases a grader may well say; so are names that several
# items share ("true or false").
MIN_NAME_CHARS = 13
# The midterm's contract numbers from the design notes: its reference solution's values, to 4 decimals.
MIDTERM_NUMBERS = ("-15.7290", "14.7198", "-4.9000", "9.9000", "-4.5006", "9.5008", "2.4925", "3.9607")


@dataclass(frozen=True)
class Forbidden:
    text: str  # as the failure message names it
    source: str  # where in which rubric it comes from
    pattern: re.Pattern[str]


def _phrase(text: str, source: str) -> Forbidden:
    return Forbidden(text, source, re.compile(re.escape(text), re.IGNORECASE))


def _word(text: str, source: str) -> Forbidden:
    # `_` separates words here, as in the class names the image_folder check reads ("iu_photos").
    return Forbidden(text, source, re.compile(rf"(?<![^\W_]){re.escape(text)}(?![^\W_])", re.IGNORECASE))


def _number(text: str, source: str) -> Forbidden:
    # With or without its sign, and not as the tail of another number (19.9000) or the head of one (9.90001).
    digits = re.escape(text.lstrip("-"))
    return Forbidden(text, source, re.compile(rf"(?<![\d.]){digits}(?!\d)"))


def forbidden_strings() -> list[Forbidden]:
    forbidden = []
    for path in sorted(RUBRICS.glob("*/rubric.yaml")):
        rubric = yaml.safe_load(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT).as_posix()
        forbidden.append(_phrase(rubric["id"], f"{where}: id"))
        forbidden.append(_phrase(rubric["title"], f"{where}: title"))
        names = Counter(check["name"] for item in rubric["items"] for check in item["checks"])
        shared_names = {name for name, count in names.items() if count > 1}
        for item in rubric["items"]:
            item_id = item["id"]
            forbidden.append(_phrase(item["title"], f"{where}: title of {item_id}"))
            for quoted in (f'"{item_id}"', f"'{item_id}'"):
                forbidden.append(Forbidden(quoted, f"{where}: item id", re.compile(re.escape(quoted))))
            for tag in (f"question:{item_id}", f"answer:{item_id}"):
                forbidden.append(Forbidden(tag, f"{where}: item tag", re.compile(rf"{re.escape(tag)}(?!\d)")))
            for check in item["checks"]:
                if len(check["name"]) >= MIN_NAME_CHARS and check["name"] not in shared_names:
                    forbidden.append(_phrase(check["name"], f"{where}: check name in {item_id}"))
                for word in check.get("forbidden", []):
                    forbidden.append(_word(word, f"{where}: forbidden keyword in {item_id}"))
    forbidden += [_number(number, "the midterm's reference numbers") for number in MIDTERM_NUMBERS]
    # One entry per string: item ids and shared names recur across exams, and an offence is reported once.
    return list({entry.text: entry for entry in reversed(forbidden)}.values())[::-1]


def offences(text: str, forbidden: list[Forbidden]) -> list[tuple[int, Forbidden]]:
    """(1-based line, what it says) for each forbidden string on each line of `text`."""
    return [(number, entry) for number, line in enumerate(text.splitlines(), start=1)
            for entry in forbidden if entry.pattern.search(line)]


def test_forbidden_strings_come_from_the_rubrics() -> None:
    texts = {entry.text for entry in forbidden_strings()}
    assert {"dl2022-midterm", "DL2022 중간고사 (Midterm)", "resnet34 trained", "CAM of the trained model",
            "trained at least one epoch", "keywords other than iu and hynn", "iu", "hynn", "아이유", "흰", "박혜원",
            '"2.3"', "'2.3'", "question:2.3", "answer:2.3", "'3.10'", "-15.7290", "3.9607"} <= texts
    assert "two class folders" in texts  # 17 characters
    assert not {"1.1", "2.3", "resnet34", "Midterm", "midterm", "true or false"} & texts  # ten items share the last


def test_what_counts_as_an_offence() -> None:
    forbidden = forbidden_strings()
    text = "\n".join([
        'tag = "question:2.3"',  # 1: an item tag
        "tag = 'question:4.2'",  # 2: no such item
        '"""Saved as IU_photos/ by the crawler."""',  # 3: a forbidden keyword, `_` separating words
        "# iuvenis, fiu, build",  # 4: letters of a keyword inside words
        "print(-15.7290)  # 19.9000, 9.90001",  # 5: a reference number; the others are other numbers
        "e.g. 'Midterm (12345)' or 'midterm*.ipynb'",  # 6: the word, not the rubric's id
        "from torchvision.models import resnet34",  # 7: library knowledge
        "items = ['3.10']",  # 8
    ])
    assert [(number, entry.text) for number, entry in offences(text, forbidden)] == [
        (1, "question:2.3"), (3, "iu"), (5, "-15.7290"), (8, "'3.10'")]


def test_grader_holds_no_exam_knowledge() -> None:
    forbidden = forbidden_strings()
    found = [
        f"{path.relative_to(ROOT)}:{number}: {entry.text!r} ({entry.source})"
        for path in sorted(GRADER.rglob("*")) if path.suffix in SCANNED_SUFFIXES
        for number, entry in offences(path.read_text(encoding="utf-8"), forbidden)
    ]
    assert found == [], "exam-specific text in grader/ (it belongs in the exam's rubric):\n" + "\n".join(found)
