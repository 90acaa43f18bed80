"""The models this project ships, each built from data or packages it carries (nothing is
downloaded), one module per model. `model_repository/` holds the small ones as built by
`lwt export shipped`; the large ones (`--transformers`) are built by `make demo`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from exporters.shipped import enwiki_reverted, langid, mini_embedding, outlink_topic, revertrisk_la

Builder = Callable[[Path, bool, bool], dict[str, Any]]


@dataclass(frozen=True)
class Shipped:
    name: str
    build: Builder  # (repository, force, progress) -> the export's summary
    large: bool = False  # only with --transformers: not committed to model_repository/


SHIPPED = [
    Shipped("enwiki-reverted", enwiki_reverted.build),
    Shipped("langid", langid.build),
    Shipped("outlink-topic-model", outlink_topic.build),
    Shipped("revertrisk-language-agnostic", revertrisk_la.build),
    Shipped("mini-embedding", mini_embedding.build, large=True),
]


def export_shipped(repository: Path, force: bool = False, progress: bool = True,
                   transformers: bool = False) -> list[dict[str, Any]]:
    return [model.build(repository, force, progress) for model in SHIPPED if transformers or not model.large]
