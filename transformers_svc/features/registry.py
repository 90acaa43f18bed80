"""Which revscoring features a service computes for a model, checked against its card.

A service must compute exactly the features its model was trained on, in the card's
order. Known models have their list here (ORES' own lists from the `editquality` package,
and ours); any other revscoring model is served when every name in its card resolves to a
known feature. A mismatch stops the service from starting.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from exporters.tree.loading import canonical_feature_name
from transformers_svc.errors import FeatureMismatch
from transformers_svc.features import offline  # noqa: F401 - before revscoring.languages


@lru_cache(maxsize=1)
def model_lists() -> dict[str, list[Any]]:
    import editquality.feature_lists.enwiki as enwiki

    from transformers_svc.features.enwiki import REVERTED

    return {
        "enwiki-reverted": REVERTED,
        "enwiki-damaging": list(enwiki.damaging),
        "enwiki-goodfaith": list(enwiki.goodfaith),
        "enwiki-reverted-ores": list(enwiki.reverted),
    }


@lru_cache(maxsize=1)
def index() -> dict[str, Any]:
    return {canonical_feature_name(str(f)): f for features in model_lists().values() for f in features}


def names(features: Sequence[Any]) -> list[str]:
    return [canonical_feature_name(str(f)) for f in features]


def features_for(model: str, card_features: Sequence[str]) -> list[Any]:
    """The model's features in card order; FeatureMismatch when they cannot be had."""
    known = model_lists().get(model)
    if known is not None:
        if names(known) != list(card_features):
            differ = [(i, a, b) for i, (a, b) in enumerate(zip(names(known), card_features)) if a != b]
            detail = differ[0] if differ else f"{len(known)} vs {len(card_features)} features"
            raise FeatureMismatch(f"{model}: the service's features differ from the model card's ({detail})")
        return list(known)
    missing = [n for n in card_features if n not in index()]
    if missing:
        raise FeatureMismatch(f"{model}: no known revscoring feature named {missing[0]!r} "
                              f"({len(missing)} of {len(card_features)} unknown)")
    return [index()[n] for n in card_features]
