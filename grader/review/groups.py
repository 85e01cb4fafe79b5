"""Answer groups: the answers to one free-text item, put together where they read alike, so that a TA can score
a group in one action. Pure functions of the answers' texts; the review app decides who is in the queue.

Answers are compared as character n-grams (2 to 4 characters, across word boundaries), weighted by TF-IDF over the
item's answers: Korean needs characters, not words (a particle or ending sticks to its word, and spacing slips —
"수렴 했다", "수렴했다" — are common), and n-grams also absorb typos. Groups come from complete-linkage clustering
with a cosine distance threshold, so every two answers of a group are at least `1 - DISTANCE_THRESHOLD` alike: no
chain of near neighbours joins two answers that differ. benchmarks/answer_groups.py measures the threshold on
answers written as a class writes them (docs/review.md#answer-groups).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

# Measured by benchmarks/answer_groups.py (docs/review.md#answer-groups): from 0.55 to 0.7 one grouped answer (of 33 to
# 45) is taken out by hand; from 0.75 on, groups of different arguments merge. 0.65 keeps a step below that edge.
DISTANCE_THRESHOLD = 0.65
NGRAMS = (2, 4)
# Markdown's emphasis, code, heading, quote, table and LaTeX markers: how an answer is typeset, not what it says.
_MARKERS = re.compile(r"[*_`#>~|$\\]+")
_LIST_MARKER = re.compile(r"^\s*(?:[-+]|\d+[.)])\s+", re.MULTILINE)


@dataclass(frozen=True)
class AnswerGroup:
    """Students whose answers read alike (sorted), or one student alone. `id` is derived from the members only: a
    group that gains or loses a member has another id, so a form made for it can tell."""

    members: tuple[str, ...]
    id: str
    empty: bool = False  # the members wrote nothing once markup is set aside

    @property
    def size(self) -> int:
        return len(self.members)


def normalise(answer: str) -> str:
    """What is compared of an answer: Unicode's compatibility form (a Mac's decomposed Hangul is the same text),
    case folded, without markdown markers and list bullets, whitespace collapsed. The answer is what the grader
    read for the item, the template's own text already left out (grader.notebook.answers)."""
    text = unicodedata.normalize("NFKC", answer).casefold()
    text = _MARKERS.sub(" ", _LIST_MARKER.sub(" ", text))
    return " ".join(text.split())


def group_id(members: Collection[str]) -> str:
    return hashlib.sha256("\x1f".join(sorted(members)).encode("utf-8")).hexdigest()[:10]


def group_answers(answers: Mapping[str, str], alone: Collection[str] = (),
                  threshold: float = DISTANCE_THRESHOLD) -> list[AnswerGroup]:
    """Every student of `answers` (student -> answer) in exactly one group: largest first, ties by first member.
    Answers with no text once normalised make one group of their own. `alone`: students a TA took out of their
    group, each in a group of one; taken out after clustering, so the other groups stay as they were."""
    # Imported here: scikit-learn takes over a second to import, which every `grader` command would pay otherwise.
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_distances

    texts = {student: normalise(answer) for student, answer in answers.items()}
    written = sorted(student for student, text in texts.items() if text)
    memberships: list[list[str]] = [[student for student in sorted(texts) if not texts[student]]]
    if len(written) == 1:
        memberships.append(written)
    elif written:
        vectors = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True).fit_transform(
            [texts[student] for student in written])
        # Precomputed: an answer too short for any n-gram is a zero vector, which sklearn's own cosine refuses.
        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete",
                                         distance_threshold=threshold).fit(cosine_distances(vectors)).labels_
        clusters: dict[int, list[str]] = {}
        for student, label in zip(written, labels):
            clusters.setdefault(int(label), []).append(student)
        memberships += clusters.values()
    groups = []
    for members in memberships:
        staying = [student for student in members if student not in alone]
        groups += [_group([student], not texts[student]) for student in members if student in alone]
        if staying:
            groups.append(_group(staying, not texts[staying[0]]))
    return sorted(groups, key=lambda group: (-group.size, group.members[0]))


def same_texts(members: Collection[str], answers: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """A group's answers, each text written once with the students who wrote it (texts equal once whitespace is
    collapsed): the most written first, ties by first student."""
    by_text: dict[str, list[str]] = {}
    for student in sorted(members):
        by_text.setdefault(" ".join(answers[student].split()), []).append(student)
    return sorted(((answers[students[0]], students) for students in by_text.values()),
                  key=lambda entry: (-len(entry[1]), entry[1][0]))


def _group(members: list[str], empty: bool) -> AnswerGroup:
    ordered = tuple(sorted(members))
    return AnswerGroup(members=ordered, id=group_id(ordered), empty=empty)
