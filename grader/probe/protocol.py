"""What the grader and the probe agree on: the environment variables that hand the probe its files and options,
the evidence format's version, and where the arrays of an evidence file lie. Imports nothing of either side."""

import os

EVIDENCE_ENV = "GRADER_EVIDENCE"
CAPTURES_ENV = "GRADER_CAPTURES"  # the capture plan file (grader.captures), when the rubric has captures
THREADS_ENV = "GRADER_TORCH_THREADS"  # torch's CPU threads in this kernel, when several kernels share the cores
CPU_FALLBACK_ENV = "GRADER_CPU_FALLBACK"  # "1": .cuda() runs on the CPU (grader.probe.vision)
SEED_ENV = "GRADER_SEED"  # random, numpy and torch (every device) are seeded with it before the first cell
ASSETS_ENV = "GRADER_ASSETS"  # the asset cache as the kernel sees it: crawl images, cached downloads (offline.py)
VIRTUAL_CLOCK_ENV = "GRADER_VIRTUAL_CLOCK"  # "1": time.sleep in the notebook advances a clock instead of waiting
FORMAT_VERSION = 6

# The asset cache's layout as the probe reads it (grader.catalog and grader.assets write it).
MANIFEST_FILE = "manifest.json"  # {"assets": {name: {"status": "real" | "synthetic", ...}}}
CRAWL_ASSET = "crawl"  # ROOT/crawl/<class>/<image>: a folder per class, the first in sorted order is class A
DOWNLOADS_FOLDER = "downloads"  # ROOT/downloads/index.json: {"urls": {url: {"sha256", "file", "content_type"}}}
DOWNLOADS_INDEX = "index.json"  # the files lie beside it, named as "file" says


def arrays_dir(evidence_path: str) -> str:
    """Where the probe writes the .npy arrays its events name, next to the evidence file."""
    return os.path.splitext(evidence_path)[0] + "-arrays"
