"""Lift Wing's per-revision `output` format (revert risk and the other non-ORES models):

`{"model_name", "model_version", "wiki_db", "revision_id",
  "output": {"prediction": true, "probabilities": {"true": 0.8, "false": 0.2}}}`
and, for `instances` requests, `{"predictions": [<that>, ...]}`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from transformers_svc.errors import ServiceError


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def binary_output(probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """`{"prediction": bool, "probabilities": {"true", "false"}}` from a two-class row."""
    lowered = [l.lower() for l in labels] or ["false", "true"]
    p_true = float(probabilities[lowered.index("true") if "true" in lowered else len(lowered) - 1])
    return {"prediction": p_true > 0.5, "probabilities": {"true": p_true, "false": 1.0 - p_true}}


def revision_answer(model: str, version: str, wiki_db: str, rev_id: int, output: dict[str, Any]) -> dict[str, Any]:
    return {"model_name": model, "model_version": version, "wiki_db": wiki_db, "revision_id": rev_id,
            "output": output}


def error_answer(model: str, version: str, wiki_db: str, rev_id: int, error: ServiceError) -> dict[str, Any]:
    return {"model_name": model, "model_version": version, "wiki_db": wiki_db, "revision_id": rev_id,
            "error": {"type": error.kind, "message": error.message}}
