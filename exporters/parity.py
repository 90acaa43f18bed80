"""The one parity check every exporter runs: exported vs original on the same inputs."""

from __future__ import annotations

import numpy as np

from exporters.contract.card import Parity
from exporters.contract.errors import ExportError



def predicted_labels(scores: np.ndarray, multilabel: bool) -> np.ndarray:
    """Argmax for one label per row; `>= 0.5` per column for multi-label models."""
    scores = np.asarray(scores)
    if multilabel:
        return scores >= 0.5
    return scores.argmax(axis=1) if scores.ndim == 2 else scores


def compare(
    reference: np.ndarray,
    exported: np.ndarray,
    tolerance: float,
    inputs: str,
    multilabel: bool = False,
    check_labels: bool = True,
) -> Parity:
    """Max abs difference and, for classifiers, whether every predicted label agrees
    (`check_labels=False` for embeddings, which have none)."""
    reference, exported = np.asarray(reference, np.float64), np.asarray(exported, np.float64)
    if reference.shape != exported.shape:
        raise ExportError(f"parity: exported output shape {exported.shape} != original {reference.shape}")
    if not np.all(np.isfinite(exported)):
        raise ExportError("parity: the exported model returned NaN or infinite values")
    if check_labels:
        agree = predicted_labels(reference, multilabel) == predicted_labels(exported, multilabel)
        if not multilabel and reference.ndim == 2:
            agree |= _tied_choice(reference, exported)
    else:
        agree = np.ones(reference.shape[0], dtype=bool)
    agree_rows = agree.all(axis=1) if agree.ndim == 2 else agree
    max_abs_diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    return Parity(
        rows=int(reference.shape[0]),
        max_abs_diff=max_abs_diff,
        tolerance=float(tolerance),
        labels_identical=bool(agree_rows.all()),
        label_agreement=float(agree_rows.mean()) if agree_rows.size else 1.0,
        inputs=inputs,
        passed=max_abs_diff <= tolerance and bool(agree_rows.all()),
    )


def _tied_choice(reference: np.ndarray, exported: np.ndarray) -> np.ndarray:
    """Rows where the original's top classes tie exactly (a random forest's votes often do)
    and the export picked one of them: either label is the original's prediction."""
    chosen = reference[np.arange(reference.shape[0]), exported.argmax(axis=1)]
    return chosen >= reference.max(axis=1) - 1e-12


def require(result: Parity) -> Parity:
    """Raise when parity failed, naming by how much."""
    if not result.passed:
        raise ExportError(
            f"parity check failed on {result.rows} rows ({result.inputs}): max abs difference "
            f"{result.max_abs_diff:.3g} (tolerance {result.tolerance:g}), labels identical: "
            f"{result.labels_identical} ({result.label_agreement:.2%} agree); nothing was written"
        )
    return result

