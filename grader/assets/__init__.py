"""The asset cache: pretrained weights and datasets that students' notebooks download, provided to grading kernels
that have no network. `grader assets synth|fetch|status` fill and inspect it (grader/cli/assets.py); the kernels mount it read-only. What the assets are is
`grader.catalog`, below the rubric, which names them.

    cache      the layout on disk, the manifest, atomic replacement, `kernel_env`, `describe`
    synth      offline stand-ins, and `draw_shapes`
    fetch      downloads checked against the published hashes
    downloads  the files a rubric's execution.downloads lists, by URL, for the probe's download stand-ins
    needs      which assets and downloads a rubric needs, and which of them the cache lacks
"""

from grader.assets.cache import (Record, assets_root, catalog_states, default_root, describe, kernel_env, present,
                                 sha256_of_path)
from grader.catalog import CATALOG, Asset
from grader.assets.fetch import FetchError, fetch_asset
from grader.assets.synth import draw_shapes, synth_asset

__all__ = ["CATALOG", "Asset", "FetchError", "Record", "assets_root", "catalog_states", "default_root", "describe",
           "draw_shapes", "fetch_asset", "kernel_env", "present", "sha256_of_path", "synth_asset"]
