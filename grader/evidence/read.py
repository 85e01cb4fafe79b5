"""Read the probe's evidence file: size-capped, strict JSON, validated events.

The file is written by code running next to untrusted student code, so it is
parsed as data only: no pickle, no eval, NaN/Infinity literals refused.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np

from pydantic import TypeAdapter, ValidationError

from grader.evidence.model import AnyEvent, Evidence, EvidenceError

MAX_EVIDENCE_BYTES = 64 * 1024 * 1024
MAX_ARRAY_BYTES = 256 * 1024 * 1024  # all arrays of one kernel together
_EVENT = TypeAdapter(AnyEvent)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def read_evidence(path: Path, max_bytes: int = MAX_EVIDENCE_BYTES, from_probe: bool = True,
                  arrays: Path | None = None) -> Evidence:
    """from_probe: the file is the probe's own, numbered 1, 2, 3, …; False for the grader's
    reference cache, which keeps only the events that matter, with their original numbers.
    arrays: the folder of the .npy files the events name (the probe's, or the cache's)."""
    if not path.is_file():
        raise EvidenceError("the probe wrote no evidence file (it did not start in the kernel)")
    size = path.stat().st_size
    if size > max_bytes:
        raise EvidenceError(f"the evidence file is {size} bytes, over the {max_bytes}-byte limit")
    evidence = Evidence()
    with path.open("rb") as stream:
        lines = stream.read().split(b"\n")
    expected = 1
    # A kernel that died mid-write leaves a partial last line (after the last
    # newline); everything before it stands.
    for number, raw in enumerate(lines[:-1], start=1):
        try:
            event = _EVENT.validate_python(json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant))
        except (UnicodeDecodeError, ValueError, ValidationError) as err:
            raise EvidenceError(f"evidence line {number} is malformed: {str(err).splitlines()[0]}") from None
        except RecursionError:
            raise EvidenceError(f"evidence line {number} is malformed: its JSON is nested too deeply") from None
        if number == 1 and event.event != "probe":
            raise EvidenceError("the evidence file does not start with the probe's header")
        if from_probe and event.seq != expected:
            # The probe numbers its lines 1, 2, 3, …; a line out of that sequence was written by
            # student code (it shares the kernel's process). It is ignored and the grader is told.
            evidence.foreign_lines.append(number)
            continue
        expected += 1
        evidence.add(event)
    if evidence.probe is None:
        raise EvidenceError("the evidence file does not start with the probe's header")
    if arrays is not None:
        evidence.arrays = read_arrays(arrays, evidence.array_names())
    return evidence


def read_arrays(folder: Path, names: list[str], max_bytes: int = MAX_ARRAY_BYTES) -> dict[str, np.ndarray]:
    """The named .npy files: plain files only (no links), numbers only (no pickled objects), size-capped."""
    loaded: dict[str, np.ndarray] = {}
    total = 0
    for name in dict.fromkeys(names):
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as err:
            raise EvidenceError(f"the probe's array {name} cannot be read ({err.strerror})") from None
        with os.fdopen(fd, "rb") as stream:
            info = os.fstat(stream.fileno())
            total += info.st_size
            if not stat.S_ISREG(info.st_mode) or total > max_bytes:
                raise EvidenceError(f"the probe's arrays are over the {max_bytes}-byte limit or not plain files")
            try:
                array = np.load(stream, allow_pickle=False)
            except ValueError as err:
                raise EvidenceError(f"the probe's array {name} is malformed: {err}") from None
        if array.dtype.kind not in "biuf":
            raise EvidenceError(f"the probe's array {name} holds {array.dtype}, not numbers")
        loaded[name] = array
    return loaded
