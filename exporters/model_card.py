"""`model.yaml`: the model card written beside every exported version.

It records what the server cannot tell: where the model came from (file and sha512),
the feature names in order, labels, statistics, library versions and the parity result.
Services read it to check that they compute exactly the features the model expects.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import yaml

from exporters.repository import CARD


def library_versions(names: Iterable[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def exporter_info(kind: str) -> dict[str, str]:
    return {"name": f"liftwing-triton {kind} exporter", "version": metadata.version("liftwing-triton")}


def write_card(version_dir: Path, card: dict[str, Any]) -> Path:
    card = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **card}
    path = version_dir / CARD
    path.write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True))
    return path


def read_card(version_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((version_dir / CARD).read_text())
