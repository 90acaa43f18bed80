"""Probabilities <-> the ORES / Lift Wing revscoring response format, in one place.

`{"enwiki": {"models": {"reverted": {"version": "0.1.0"}},
             "scores": {"123": {"reverted": {"score": {"prediction": true,
                                                      "probability": {"true": 0.8, "false": 0.2}}}}}}}`

Binary and multi-class models predict the most probable label; multi-label models (one
binary estimator per label, as revscoring keeps them) predict every label whose
probability is at least 0.5, the decision revscoring's own `score()` makes.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np

from transformers_svc.errors import ServiceError

MULTILABEL_THRESHOLD = 0.5


def label_value(label: str) -> Any:
    """labels.txt holds `true`/`false`/numbers as JSON and class names as text."""
    try:
        return json.loads(label)
    except ValueError:
        return label


def score(probabilities: np.ndarray, labels: Sequence[str], multilabel: bool) -> dict[str, Any]:
    probability = {label: float(p) for label, p in zip(labels, probabilities)}
    if multilabel:
        prediction: Any = [label_value(l) for l, p in zip(labels, probabilities) if p >= MULTILABEL_THRESHOLD]
    else:
        prediction = label_value(labels[int(np.argmax(probabilities))])
    return {"prediction": prediction, "probability": probability}


def error_entry(error: ServiceError) -> dict[str, Any]:
    return {"error": {"type": error.kind, "message": error.message}}


def plain(values: Sequence[Any]) -> list[Any]:
    """Feature values as JSON has them (numpy scalars -> Python)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def response(wiki_db: str, versions: Mapping[str, str | None],
             entries: Mapping[int, Mapping[str, dict[str, Any]]]) -> dict[str, Any]:
    """`{wiki: {"models": {model: {"version"}}, "scores": {rev_id: {model: entry}}}}`."""
    return {wiki_db: {"models": {model: {"version": version} for model, version in versions.items()},
                      "scores": {str(rev_id): dict(by_model) for rev_id, by_model in entries.items()}}}
