"""Probabilities <-> the Lift Wing / ORES revscoring response format, in one place.

`{"enwiki": {"models": {"reverted": {"version": "0.1.0"}},
             "scores": {"123": {"reverted": {"score": {"prediction": true,
                                                      "probability": {"true": 0.8, "false": 0.2}}}}}}}`
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from transformers_svc.errors import ServiceError


def label_value(label: str) -> Any:
    """labels.txt holds `true`/`false`/numbers as JSON and class names as text."""
    try:
        return json.loads(label)
    except ValueError:
        return label


def score(probabilities: np.ndarray, labels: Sequence[str], multilabel: bool) -> dict[str, Any]:
    probability = {label: float(p) for label, p in zip(labels, probabilities)}
    if multilabel:
        prediction: Any = [label_value(l) for l, p in zip(labels, probabilities) if p >= 0.5]
    else:
        prediction = label_value(labels[int(np.argmax(probabilities))])
    return {"prediction": prediction, "probability": probability}


def error_entry(error: ServiceError) -> dict[str, Any]:
    return {"error": {"type": error.kind, "message": error.message}}


def response(wiki_db: str, model_key: str, version: str | None, entries: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {wiki_db: {"models": {model_key: {"version": version}},
                      "scores": {str(rev_id): {model_key: entry} for rev_id, entry in entries.items()}}}
