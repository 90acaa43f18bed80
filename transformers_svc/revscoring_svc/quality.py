"""articlequality's weighted sum: one number for a quality prediction, `extended_output` only.

`sum(weight[class] * probability[class])`, as articlequality's `weighted_sum` utility adds
it to a score (`score["weighted_sum"]`), with its own class weights
(`utilities/extract_scores.py`): enwiki's Stub=0 ... FA=5, frwiki's e=0 ... adq=5,
ruwiki's IV=0 ... ИС=6. A model whose classes are one of these scales gets it; others
(draftquality, another wiki's scale) do not. Clients scale it as they like (the Wiki
Education Dashboard multiplies enwiki's by 20 to get 0-100).
"""

from __future__ import annotations

from typing import Mapping, Sequence

SCALES: tuple[dict[str, float], ...] = (
    {"Stub": 0, "Start": 1, "C": 2, "B": 3, "GA": 4, "FA": 5},
    {"e": 0, "bd": 1, "b": 2, "a": 3, "ba": 4, "adq": 5},
    {"IV": 0, "III": 1, "II": 2, "I": 3, "ДС": 4, "ХС": 5, "ИС": 6},
)


def weights_for(labels: Sequence[str]) -> dict[str, float] | None:
    """The scale whose classes are exactly the model's labels, or None."""
    return next((scale for scale in SCALES if set(scale) == set(labels)), None)


def weighted_sum(probability: Mapping[str, float], weights: Mapping[str, float]) -> float:
    return float(sum(weights[label] * p for label, p in probability.items()))
