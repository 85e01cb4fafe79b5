"""TA actions per graded answer for a free-text item, with and without answer groups (grader.review.groups).

    .venv/bin/python benchmarks/answer_groups.py [--thresholds 0.5,0.6,...]

Two sets of answers to the midterm's 2.5: the samples' (submissions/dl2022-midterm, read from the notebooks as the
grader reads them: no kernel runs), and a class of 90 written for this benchmark (benchmarks/answers_2.5.yaml), each
answer labelled with the argument it makes, which decides its points.

An action is a click or a key that does something (a point key, Enter, a button), each form submission one of them;
typing the points into a box is one. The queue page of the item is open at the start. Comments are left out of
both counts (with groups there are fewer to write: one per group). Reading is not counted: either way the TA reads
every answer, though a group shows each text once for all who wrote it.

- without groups: each answer with text, a point key and Enter (2); the empty ones, the list's summary and its
  button (2 for all of them).
- with groups: open the groups page (1); for each group of two or more whose most common argument at least two
  members make, take out each member of another argument (1 each), then type the points and save (2); a group
  where no argument has two members is graded answer by answer, with the rest. The empty ones as without groups
  (2); back to the queue (1), which opens on the first answer still waiting, and each of them as without groups
  (2 each).

The threshold sweep (the class of 90) shows what DISTANCE_THRESHOLD was chosen from: the actions, the answers taken
out, the answers unlike their group (those taken out, and one of each pair of two arguments, which is graded answer
by answer), and the pairwise precision of the groups (of the pairs of answers put in one group, the share that make
the same argument).
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from grader.notebook.answers import AnswerReader
from grader.notebook.locate import locate
from grader.review.groups import DISTANCE_THRESHOLD, group_answers, normalise
from grader.rubric import load_rubric
from grader.submission import discover

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
SAMPLES = ROOT / "submissions" / "dl2022-midterm"
WRITTEN = Path(__file__).resolve().parent / "answers_2.5.yaml"
ITEM = "2.5"
EMPTY = "empty"
SWEEP = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)


@dataclass(frozen=True)
class Count:
    answers: int
    groups: int  # of two or more, graded at once
    in_groups: int  # answers scored by a group's one action
    taken_out: int
    unlike: int  # answers in a group of two or more that argue otherwise than most of it (or, in a pair, than the other)
    actions_without: int
    actions_with: int
    precision: float  # of the pairs of answers in one group, the share of one argument


def sample_answers() -> dict[str, str]:
    """The samples' answers to the item, as the grader reads them from the notebooks (the template's text left out);
    a file that is no notebook has none."""
    loaded = load_rubric(RUBRIC)
    item_ids = [item.id for item in loaded.spec.items]
    reader = AnswerReader(loaded.template, item_ids)
    answers = {}
    for submission in discover(SAMPLES, loaded.spec.submission.notebook):
        try:
            notebook = nbformat.read(submission.notebook, as_version=4)
        except nbformat.reader.NotJSONError:
            continue
        snippets = reader.item_snippets(notebook, locate(notebook, item_ids), ITEM)
        answers[submission.key] = "\n\n".join(snippet.text.strip() for snippet in snippets)
    return answers


def count(answers: Mapping[str, str], arguments: Mapping[str, str], threshold: float) -> Count:
    written = {student: answer for student, answer in answers.items() if normalise(answer)}
    empty = len(answers) - len(written)
    groups = [group for group in group_answers(written, threshold=threshold) if group.size >= 2]
    graded_at_once = taken_out = unlike = 0
    acted_on_groups = 0
    for group in groups:
        argument, most = Counter(arguments[student] for student in group.members).most_common(1)[0]
        unlike += group.size - most
        if most < 2:
            continue
        graded_at_once += most
        taken_out += group.size - most
        acted_on_groups += 1
    one_by_one = len(written) - graded_at_once
    empty_actions = 2 if empty else 0
    pairs = [(a, b) for group in groups for a, b in itertools.combinations(group.members, 2)]
    return Count(
        answers=len(answers), groups=acted_on_groups, in_groups=graded_at_once, taken_out=taken_out, unlike=unlike,
        actions_without=2 * len(written) + empty_actions,
        actions_with=1 + taken_out + 2 * acted_on_groups + empty_actions + 1 + 2 * one_by_one,
        precision=sum(arguments[a] == arguments[b] for a, b in pairs) / len(pairs) if pairs else 1.0)


def table(rows: list[tuple[str, Count]]) -> str:
    lines = ["| answers | n | groups graded at once | answers in them | taken out | unlike their group "
             "| actions without groups | with groups | per graded answer without | with | pair precision |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in rows:
        lines.append(f"| {name} | {c.answers} | {c.groups} | {c.in_groups} | {c.taken_out} | {c.unlike} | "
                     f"{c.actions_without} | "
                     f"{c.actions_with} | {c.actions_without / c.answers:.2f} | {c.actions_with / c.answers:.2f} | "
                     f"{c.precision:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default=",".join(map(str, SWEEP)),
                        help="cosine distance thresholds of the sweep, comma-separated")
    args = parser.parse_args()
    data = yaml.safe_load(WRITTEN.read_text(encoding="utf-8"))
    samples = sample_answers()
    labelled = {str(student): argument for student, argument in data["samples"].items()}
    if set(samples) != set(labelled):
        raise SystemExit(f"{WRITTEN.name}'s samples are not the samples' answers: label "
                         f"{', '.join(sorted(set(samples) ^ set(labelled)))} there")
    written = {entry["student"]: entry["answer"] for entry in data["answers"]}
    arguments = {entry["student"]: entry["argument"] for entry in data["answers"]}
    print(f"Item {ITEM}, DISTANCE_THRESHOLD = {DISTANCE_THRESHOLD}\n")
    print(table([("samples (submissions/dl2022-midterm)", count(samples, labelled, DISTANCE_THRESHOLD)),
                 (f"a class of {len(written)} ({WRITTEN.name})", count(written, arguments, DISTANCE_THRESHOLD))]))
    print(f"\nThreshold sweep, the class of {len(written)}:\n")
    print(table([(f"threshold {threshold:g}", count(written, arguments, threshold))
                 for threshold in (float(text) for text in args.thresholds.split(","))]))


if __name__ == "__main__":
    main()
