"""What the grader and the probe agree on: the environment variables that hand the probe its files and options,
the evidence format's version, and how an array is written into the evidence file. Imports nothing of either side."""

import binascii
import io
import json

import numpy as np

EVIDENCE_ENV = "GRADER_EVIDENCE"
CAPTURES_ENV = "GRADER_CAPTURES"  # the capture plan file (grader.captures), when the rubric has captures
THREADS_ENV = "GRADER_TORCH_THREADS"  # torch's CPU threads in this kernel, when several kernels share the cores
CPU_FALLBACK_ENV = "GRADER_CPU_FALLBACK"  # "1": .cuda() runs on the CPU (grader.probe.vision)
SEED_ENV = "GRADER_SEED"  # random, numpy and torch (every device) are seeded with it before the first cell
ASSETS_ENV = "GRADER_ASSETS"  # the asset cache as the kernel sees it: crawl images, cached downloads (offline.py)
VIRTUAL_CLOCK_ENV = "GRADER_VIRTUAL_CLOCK"  # "1": time.sleep in the notebook advances a clock instead of waiting
FORMAT_VERSION = 7  # 7: arrays are lines of the evidence file, no longer .npy files beside it

# The asset cache's layout as the probe reads it (grader.catalog and grader.assets write it).
MANIFEST_FILE = "manifest.json"  # {"assets": {name: {"status": "real" | "synthetic", ...}}}
CRAWL_ASSET = "crawl"  # ROOT/crawl/<class>/<image>: a folder per class, the first in sorted order is class A
DOWNLOADS_FOLDER = "downloads"  # ROOT/downloads/index.json: {"urls": {url: {"sha256", "file", "content_type"}}}
DOWNLOADS_INDEX = "index.json"  # the files lie beside it, named as "file" says


# An array is a line of the evidence file, numbered in the events' sequence:
#   {"event":"array","name":"a3","seq":5,"run":2,"npy":"<base64 of np.save's bytes>"}
# The npy field comes last, so the grader decodes it straight from the line's bytes, never as a JSON string.
ARRAY_LINE_START = b'{"event":"array",'
NPY_FIELD = b',"npy":"'
ARRAY_LINE_END = b'"}\n'

# Bound now: the probe imports this module before the first cell, so student code that later replaces these
# cannot change how arrays are written.
_dumps = json.dumps
_save = np.save
_b64 = binascii.b2a_base64


def array_line(name: str, seq: int, run: int, array: np.ndarray) -> bytes:
    """`array` as one evidence line: numbers only (written without pickle), read back by grader.evidence.read."""
    npy = io.BytesIO()
    _save(npy, np.ascontiguousarray(array), allow_pickle=False)
    header = _dumps({"event": "array", "name": name, "seq": seq, "run": run}, separators=(",", ":"))
    return b"".join((header[:-1].encode(), NPY_FIELD, _b64(npy.getbuffer(), newline=False), ARRAY_LINE_END))
