"""Read the probe's evidence file: size-capped, strict JSON, validated events and arrays.

The file is written by code running next to untrusted student code, so it is
parsed as data only: no pickle, no eval, NaN/Infinity literals refused. Arrays
are lines of the same file (grader.probe.protocol.array_line), numbered with the
events, so an array out of the probe's sequence is as foreign as an event.
"""

from __future__ import annotations

import binascii
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from pydantic import TypeAdapter, ValidationError

from grader.evidence.model import AnyEvent, ArrayEvent, Evidence, EvidenceError, ProbeEvent, _Event
from grader.probe.protocol import ARRAY_LINE_END, ARRAY_LINE_START, NPY_FIELD

MAX_EVENT_BYTES = 64 * 1024 * 1024  # the events' lines
MAX_ARRAY_BYTES = 256 * 1024 * 1024  # all arrays of one kernel together, decoded
MAX_EVIDENCE_BYTES = MAX_EVENT_BYTES + -(-MAX_ARRAY_BYTES // 3) * 4  # the arrays travel in base64
TOO_LARGE = (" (room for 64 MB of events and 256 MB of arrays): the notebook wrote into the evidence file, or the "
             "rubric's captures keep too much")
_EVENT = TypeAdapter(AnyEvent)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def read_evidence(path: Path, max_bytes: int = MAX_EVIDENCE_BYTES, from_probe: bool = True,
                  max_array_bytes: int = MAX_ARRAY_BYTES) -> Evidence:
    """from_probe: the file is the probe's own, numbered 1, 2, 3, …; False for the grader's
    reference cache, which keeps only the events that matter, with their original numbers."""
    if not path.is_file():
        raise EvidenceError("the probe wrote no evidence file (it did not start in the kernel)")
    evidence = Evidence()
    arrays = _Arrays(max_array_bytes)
    number = sequenced = 0  # lines read, and of those in the probe's sequence
    with path.open("rb") as stream:
        lines = _Lines(stream, max_bytes)
        while (raw := lines.next()) is not None:
            number += 1
            event = _parse_line(raw, number)
            del raw  # an array's line can be hundreds of MB: it lives on in its event's npy view only
            if number == 1 and not isinstance(event, ProbeEvent):
                raise EvidenceError("the evidence file does not start with the probe's header")
            in_sequence = not from_probe or event.seq == sequenced + 1
            if not in_sequence:
                # The probe numbers its lines 1, 2, 3, …; a line out of that sequence was written by
                # student code (it shares the kernel's process). It is ignored and the grader is told.
                evidence.foreign_lines.append(number)
            elif isinstance(event, ArrayEvent):
                arrays.add(event)
            else:
                evidence.add(event)
            sequenced += in_sequence
            del event  # and with it a foreign array's line, before the next one is read
    if evidence.probe is None:
        raise EvidenceError("the evidence file does not start with the probe's header")
    evidence.arrays = arrays.named(evidence.array_names())
    return evidence


class _Lines:
    """The file's lines, one at a time, never reading past `max_bytes`. A kernel that died mid-write leaves a
    partial last line (after the last newline); everything before it stands."""

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        size = os.fstat(stream.fileno()).st_size
        if size > max_bytes:
            raise EvidenceError(f"the evidence file is {size} bytes, over the {max_bytes}-byte limit{TOO_LARGE}")
        self.stream = stream
        self.max_bytes = max_bytes
        self.left = max_bytes

    def next(self) -> bytes | None:
        """The next whole line; None at the end. Not a generator: the caller alone holds the line."""
        raw = self.stream.readline(self.left + 1)  # a process still writing cannot make it longer either
        self.left -= len(raw)
        if self.left < 0:
            raise EvidenceError(f"the evidence file grew past the {self.max_bytes}-byte limit while it was read"
                                f"{TOO_LARGE}")
        return raw if raw.endswith(b"\n") else None


def _parse_line(raw: bytes, number: int) -> _Event:
    if not raw.startswith(ARRAY_LINE_START):
        return _validated(_EVENT.validate_python, raw, number)
    field = raw.find(NPY_FIELD)
    if field < 0 or not raw.endswith(ARRAY_LINE_END):
        raise EvidenceError(f"evidence line {number} is malformed: an array line without its npy field last")
    npy = memoryview(raw)[field + len(NPY_FIELD):-len(ARRAY_LINE_END)]
    return _validated(lambda header: ArrayEvent.model_validate({**header, "npy": npy}), raw[:field] + b"}", number)


def _validated(validate: Callable[[Any], _Event], raw: bytes, number: int) -> _Event:
    """The event a line of strict JSON holds, validated."""
    try:
        return validate(json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant))
    except (UnicodeDecodeError, ValueError, ValidationError) as err:
        raise EvidenceError(f"evidence line {number} is malformed: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise EvidenceError(f"evidence line {number} is malformed: its JSON is nested too deeply") from None


class _Arrays:
    """The probe's arrays as their lines come: numbers only (no pickled objects), size-capped in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self.by_name: dict[str, np.ndarray] = {}

    def add(self, line: ArrayEvent) -> None:
        name = line.name
        if name in self.by_name:
            raise EvidenceError(f"the evidence file holds the probe's array {name} twice")
        try:
            npy = binascii.a2b_base64(line.npy, strict_mode=True)
        except binascii.Error as err:
            raise EvidenceError(f"the probe's array {name} is not valid base64 ({err})") from None
        line.npy.release()  # the line it points into goes now, not after np.load's copy
        self.total += len(npy)
        if self.total > self.max_bytes:
            raise EvidenceError(f"the probe's arrays are over the {self.max_bytes}-byte limit in all (what the "
                                "notebook displayed, its CAM inputs, the rubric's captures): capture smaller values")
        try:
            array = np.load(io.BytesIO(npy), allow_pickle=False)
        except (ValueError, EOFError) as err:
            raise EvidenceError(f"the probe's array {name} is malformed: {err}") from None
        if array.dtype.kind not in "biuf":
            raise EvidenceError(f"the probe's array {name} holds {array.dtype}, not numbers")
        self.by_name[name] = array

    def named(self, names: list[str]) -> dict[str, np.ndarray]:
        """The arrays events name (an array whose event was never written is dropped)."""
        missing = [name for name in names if name not in self.by_name]
        if missing:
            raise EvidenceError(f"an event names the probe's array {missing[0]}, but the evidence file holds no "
                                "such array in the probe's sequence: the notebook may have written to the file")
        return {name: self.by_name[name] for name in dict.fromkeys(names)}
