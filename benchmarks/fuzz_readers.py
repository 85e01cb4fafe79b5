"""Fuzz the grader's readers of untrusted files for tens of thousands of cases: notebooks, the probe's evidence,
rosters, zips and LMS downloads, with the strategies tests/test_fuzz_readers.py runs a few hundred of in CI
(tests/fuzz_strategies.py). Each case must be read or refused with the grader's own error; any other exception,
or a failed check of what was read, is unexpected and printed with the input that caused it.

    .venv/bin/python benchmarks/fuzz_readers.py [--examples 4000] [--seed 0] [--readers notebook,zip]

Exits 1 when anything unexpected happened.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz_strategies import READERS, Reader  # noqa: E402


@dataclass
class Tally:
    cases: int = 0
    read: int = 0
    refused: int = 0  # the grader's own errors
    unexpected: dict[str, bytes] = field(default_factory=dict)  # "Type: message" -> the first input that raised it
    slowest: float = 0.0  # seconds of the slowest case


def fuzz(reader: Reader, examples: int, random_seed: int) -> Tally:
    """`examples` inputs drawn fresh (no shrinking: the first input of each failure is kept as drawn)."""
    tally = Tally()

    @seed(random_seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(reader.files)
    def case(data: bytes) -> None:
        started = monotonic()
        with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
            try:
                outcome = reader.feed(data, Path(folder))
            except Exception as err:  # what the contract rules out: counted, never raised
                tally.unexpected.setdefault(f"{type(err).__name__}: {str(err)[:200]}", data)
            else:
                tally.read += outcome == "read"
                tally.refused += outcome != "read"
        tally.cases += 1
        tally.slowest = max(tally.slowest, monotonic() - started)

    case()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=4000, help="cases per reader (default 4000: 20,000 in all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", default=",".join(reader.name for reader in READERS))
    args = parser.parse_args()
    chosen = [reader for reader in READERS if reader.name in args.readers.split(",")]
    print("| reader | cases | read | grader's errors | unexpected | slowest case s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    found: dict[str, dict[str, bytes]] = {}
    for reader in chosen:
        started = monotonic()
        tally = fuzz(reader, args.examples, args.seed)
        found[reader.name] = tally.unexpected
        print(f"| {reader.name} | {tally.cases} | {tally.read} | {tally.refused} | {len(tally.unexpected)} | "
              f"{tally.slowest:.2f} | {monotonic() - started:.1f} |", flush=True)
    for name, unexpected in found.items():
        for what, data in unexpected.items():
            print(f"{name}: {what}\n  first input ({len(data)} bytes): {data[:300]!r}")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
