"""ORES' `model_info`: what revscoring's `ScoringModel.info` held, read from the model card.

The fields are revscoring's: `version`, `type`, `params`, `statistics`, `environment`,
`score_schema`; a field may be a path into one (`statistics.roc_auc.labels.true`), as
ORES allowed. Without `model_info` a response carries `version` only, as ORES' did.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from exporters.contract.card import ModelCard
from transformers_svc.codecs.ores import label_value

DEFAULT_FIELDS = ("version",)


class ModelInfoLookupError(KeyError):
    """A requested field or path the card does not hold."""


def _json_type(labels: Sequence[str]) -> Any:
    kinds = sorted({"boolean" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "string"
                    for v in (label_value(l) for l in labels)})
    return kinds[0] if len(kinds) == 1 else kinds


def score_schema(card: ModelCard) -> dict[str, Any]:
    """revscoring's own schema of a probability classifier's score."""
    kind = _json_type(card.labels)
    prediction: dict[str, Any] = (
        {"description": "The most likely labels predicted by the estimator", "type": "array", "items": {"type": kind}}
        if card.multilabel else {"description": "The most likely label predicted by the estimator", "type": kind})
    return {"title": "Scikit learn-based classifier score with probability", "type": "object",
            "properties": {"prediction": prediction,
                           "probability": {"description": "A mapping of probabilities onto each of the potential "
                                                          "output labels", "type": "object",
                                           "properties": {l: {"type": "number"} for l in card.labels}}}}


def full_info(card: ModelCard) -> dict[str, Any]:
    return {
        "type": (card.source.class_name or card.source.kind).rsplit(".", 1)[-1],
        "version": card.model_version,
        "params": card.params,
        "environment": card.libraries,
        "statistics": card.statistics,
        "score_schema": score_schema(card),
    }


def _lookup(info: Any, path: list[str], field: str) -> Any:
    for key in path:
        if isinstance(info, dict) and key in info:
            info = info[key]
        elif isinstance(info, dict) and key.lower() in ("true", "false") and (key.lower() == "true") in info:
            info = info[key.lower() == "true"]
        else:
            raise ModelInfoLookupError(field)
    return info


def model_info(card: ModelCard, fields: Sequence[str] = ()) -> dict[str, Any]:
    """`{field: value}` for each requested field (a path nests: `{"statistics": {"roc_auc": ...}}`)."""
    info = full_info(card)
    out: dict[str, Any] = {}
    for field in fields or DEFAULT_FIELDS:
        path = [p for p in field.split(".") if p]
        if not path:
            raise ModelInfoLookupError(field)
        value = _lookup(info, path, field)
        target = out
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = copy.deepcopy(value)  # the card's own dicts stay untouched
    return out
