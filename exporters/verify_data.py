"""Read `--verify-data`: the rows the parity check runs on.

Accepted: `.npy` (a float matrix of features), or a tab/comma separated file in one of
revscoring's layouts, told apart by the column count against the model's features:
`features`, `features<TAB>label` (revscoring's training files) or
`rev_id<TAB>features<TAB>label` (editquality's demo files). `.bz2`/`.gz` are read as is.
A headerless file cannot name its columns, so a trailing label column is accepted only
when it holds the model's own labels: a file for another model is refused, not misread.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import numpy as np

from exporters.contract.errors import ExportError

_BOOLS = {"true": 1.0, "false": 0.0}


def _open(path: Path):
    if path.suffix == ".bz2":
        return bz2.open(path, "rt")
    if path.suffix == ".gz":
        return gzip.open(path, "rt")
    return open(path, "rt")


def _value(text: str) -> float:
    lowered = text.strip().lower()
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    return float(text)


def read_verify_data(path: Path, n_features: int, labels: list[str] | None = None) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such verify-data file")
    if path.suffix == ".npy":
        X = np.load(path, allow_pickle=False)
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ExportError(f"{path}: shape {X.shape}, but the model has {n_features} features")
        return X.astype(np.float32)
    rows = []
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                cells = line.rstrip("\n").split("\t" if "\t" in line else ",")
                offset = {n_features: 0, n_features + 1: 0, n_features + 2: 1}.get(len(cells))
                if offset is None:
                    raise ExportError(
                        f"{path}:{number}: {len(cells)} columns, but the model has {n_features} features "
                        f"(expected {n_features}, {n_features + 1} or {n_features + 2} columns)"
                    )
                try:
                    values = [_value(c) for c in cells[offset : offset + n_features]]
                except ValueError as exc:
                    if number == 1:
                        continue  # a header line
                    raise ExportError(f"{path}:{number}: not a number ({exc})") from exc
                if len(cells) > n_features and labels is not None \
                        and cells[-1].strip().lower() not in {l.lower() for l in labels}:
                    raise ExportError(
                        f"{path}:{number}: {len(cells)} columns, but the model has {n_features} features "
                        f"and the last column {cells[-1].strip()!r} is not one of its labels {labels}"
                    )
                rows.append(values)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: cannot read verify data ({exc})") from exc
    if not rows:
        raise ExportError(f"{path}: no rows of verify data")
    return np.asarray(rows, dtype=np.float32)
