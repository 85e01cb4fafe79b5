"""How well `grader similarity` tells copies from honest work, and how fast, on the corpus of
benchmarks/similarity_corpus.py (honest midterm solutions and disguised copies, as a graded folder).

    .venv/bin/python benchmarks/similarity.py --honest 300 --copies 30 --seed 1

Prints recall per disguise, precision, the rate of flagged pairs among honest ones, the score distributions the
weights and threshold were set from, and the time of `grader similarity` over the folder (the command as a TA
runs it, in a fresh process: reading every notebook, comparing every pair, writing the pages).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from time import monotonic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.similarity_corpus import write_corpus  # noqa: E402
from grader.similarity.pairs import FLAG_AT  # noqa: E402
from grader.similarity.report import read_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=300)
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="folder for the corpus (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="grader-similarity-"))
    started = monotonic()
    truth = write_corpus(work, args.honest, args.copies, args.seed)
    built = monotonic() - started
    grader = Path(sys.executable).with_name("grader")
    started = monotonic()
    done = subprocess.run([str(grader), "similarity", "--out", str(work / "out"), "--top", "0"],
                          capture_output=True, text=True)
    wall = monotonic() - started
    if done.returncode != 0:
        sys.exit(f"grader similarity failed ({done.returncode}):\n{done.stderr}")
    report = read_report(work / "out")
    assert report is not None
    n = report.ranking.students
    pairs = {(pair.a, pair.b): pair for pair in report.ranking.pairs}
    positives = {tuple(sorted(pair)): disguise for pair, disguise in truth.items()}
    honest_pairs = n * (n - 1) // 2 - len(positives)
    flagged = {key for key, pair in pairs.items() if pair.flagged}
    caught = {key for key in positives if key in flagged}
    false = flagged - set(positives)
    print(f"corpus: {args.honest} honest submissions, {args.copies} disguised copies (seed {args.seed}); "
          f"built in {built:.1f} s")
    print(f"grader similarity: {n} submissions, {n * (n - 1) // 2} pairs, {wall:.1f} s wall "
          f"(in-process compare {report.seconds:.1f} s)")
    print(f"flag at score >= {FLAG_AT}: recall {len(caught)}/{len(positives)}, precision "
          f"{len(caught)}/{len(flagged)}, honest pairs flagged {len(false)} of {honest_pairs} "
          f"({len(false) / honest_pairs:.4%})")
    by_disguise: dict[str, list[float]] = defaultdict(list)
    for key, disguise in positives.items():
        by_disguise[disguise].append(pairs[key].score if key in pairs else 0.0)
    print("| disguise | copies | caught | lowest score | median score |")
    print("|---|---|---|---|---|")
    for disguise, scores in sorted(by_disguise.items()):
        print(f"| {disguise} | {len(scores)} | {sum(score >= FLAG_AT for score in scores)} | {min(scores):.2f} "
              f"| {statistics.median(scores):.2f} |")
    honest_scores = sorted((pair.score for key, pair in pairs.items() if key not in positives), reverse=True)
    honest_scores += [0.0] * (honest_pairs - len(honest_scores))
    ranks = {key: rank for rank, key in enumerate(sorted(pairs, key=lambda k: -pairs[k].score), start=1)}
    worst = max((ranks.get(key, len(pairs) + 1) for key in positives), default=0)
    print(f"honest pairs' scores: max {honest_scores[0]:.2f}, 99.9th percentile "
          f"{honest_scores[int(len(honest_scores) * 0.001)]:.2f}, 99th {honest_scores[int(len(honest_scores) * 0.01)]:.2f}; "
          f"the lowest-ranked copy is at rank {worst}")
    print("| flag at | recall | precision | honest pairs flagged |")
    print("|---|---|---|---|")
    for threshold in (0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        above = {key for key, pair in pairs.items() if pair.score >= threshold}
        hits = len(above & set(positives))
        print(f"| {threshold:.1f}{' (used)' if threshold == FLAG_AT else ''} | {hits}/{len(positives)} | "
              f"{hits}/{len(above)} | {len(above) - hits} ({(len(above) - hits) / honest_pairs:.4%}) |")
    kinds: dict[str, Counter] = {"honest": Counter(), "copies": Counter()}
    for key, pair in pairs.items():
        for evidence in pair.evidence:
            kinds["copies" if key in positives else "honest"][evidence.kind] += 1
    print("pairs with each kind of evidence: honest " + ", ".join(f"{k} {v}" for k, v in sorted(kinds["honest"].items()))
          + "; copies " + ", ".join(f"{k} {v}" for k, v in sorted(kinds["copies"].items())))
    for key in sorted(false, key=lambda k: -pairs[k].score)[:5]:
        pair = pairs[key]
        print(f"  flagged honest pair {key}: {pair.score:.2f} " + "; ".join(f"{e.kind} {e.weight:+.2f}: {e.summary[:90]}"
                                                                           for e in pair.evidence))
    for key, disguise in sorted(positives.items()):
        if key not in caught:
            pair = pairs.get(key)
            print(f"  missed copy {key} ({disguise}): {pair.score if pair else 0:.2f} "
                  + ("; ".join(f"{e.kind} {e.weight:+.2f}" for e in pair.evidence) if pair else "nothing shared"))


if __name__ == "__main__":
    main()
