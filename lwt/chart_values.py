"""`lwt chart values`: the chart's `models` list from a model repository.

Each model's format comes from its config's backend, GPU from its instance group, the
transformer from its model card (revscoring, text classifier, or none), and its
storageUri is `<storage-uri>/<name>`: where `lwt push REPO <storage-uri>/<name>
--models <name>` puts it, and what `lwt serve --repository` reads locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporters.contract.card import read_card
from exporters.contract.layout import CONFIG, latest_version, model_dirs
from exporters.triton_config import read_config

FORMATS = {"onnxruntime": "onnx", "pytorch": "pytorch", "python": "triton"}
# The chart's transformer kinds, by the card's service.
TRANSFORMERS = {"revscoring": "revscoring", "text-classification": "text"}


def model_entry(model_dir: Path, storage_uri: str | None) -> dict[str, Any]:
    config = read_config(model_dir / CONFIG)
    version = latest_version(model_dir)
    card = read_card(version) if version is not None else None
    service = card.service if card is not None else None
    entry: dict[str, Any] = {
        "name": model_dir.name,
        "format": FORMATS.get(config.backend, config.backend or "triton"),
        "gpu": any(g.kind == g.KIND_GPU for g in config.instance_group),
        "transformer": TRANSFORMERS.get(service or "", "services" if service else "none"),
    }
    if storage_uri:
        entry["storageUri"] = f"{storage_uri.rstrip('/')}/{model_dir.name}"
    return entry


def values_for(repository: Path, storage_uri: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {"models": [model_entry(p, storage_uri) for p in model_dirs(repository)]}
    if storage_uri:
        values["storage"] = {"uri": storage_uri}
    return values
