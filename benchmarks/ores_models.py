"""ORES' enwiki edit-quality models in shape: damaging and goodfaith with the real feature
lists of the `editquality` package and ORES' own sizes, trained on generated rows.

The trained ORES model files are not to be had here (Git LFS in editquality's repository),
so the weights are stand-ins: rows are drawn per class (a damaging edit adds bad or informal
words more often, is made by an IP or a new account more often, removes more) and a
revscoring `GradientBoosting` is trained on them with the hyper-parameters of
editquality's Makefile (learning rate 0.01, depth 7, log2 features, 700 trees). ORES also
centred and scaled the features; trees do not need it, and scaled models fail the tree
exporter's parity check on threshold-sampled rows (float32 scaling moves a row across a
split), so these are not scaled. The work per request (80 features solved, 700 trees of
depth 7 evaluated) is ORES'; the probabilities are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import exporters.contract.revscoring_features  # noqa: F401 - NLTK's offline data before revscoring.languages
import numpy as np
from editquality.feature_lists import enwiki
from revscoring.scoring.models import GradientBoosting

FEATURE_LISTS = {"damaging": enwiki.damaging, "goodfaith": enwiki.goodfaith}
ORES_PARAMS = {"learning_rate": 0.01, "max_depth": 7, "max_features": "log2", "n_estimators": 700}
VERSION = "0.5.1"  # editquality's version, whose feature lists these are
# Features whose values differ by class, and by how much (the rest is noise).
_SIGNALS = ("badwords", "informals", "is_anon", "seconds_since_registration", "chars_change", "non_dict_word",
            "longest_new_repeated_char", "uppercase_word")


def _value(feature: Any, bad: bool, rng: np.random.Generator) -> Any:
    name = str(feature)
    signal = any(s in name for s in _SIGNALS)
    if feature.returns is bool:
        rate = 0.7 if bad and signal else 0.15
        if "is_bot" in name or "admin" in name or "trusted" in name or "rights" in name:
            rate = 0.02 if bad else 0.2
        return bool(rng.random() < rate)
    scale = 3.0 if bad and signal else 1.0
    if "registration" in name:
        return float(np.log1p(rng.exponential(1e4 if bad else 1e7)))
    if "decrease" in name or "removed" in name:
        return -float(rng.exponential(scale))
    if "prop" in name or "per_" in name:
        return float(rng.beta(2, 5) * scale)
    return float(rng.exponential(2.0 * scale)) if feature.returns is float else int(rng.poisson(2 * scale))


def generated_rows(features: Sequence[Any], n: int, seed: int, positive_rate: float = 0.3,
                   label_is_bad: bool = True) -> list[tuple[list[Any], bool]]:
    """revscoring's [(values, label)]: `label_is_bad` for damaging, its negation for goodfaith."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        bad = bool(rng.random() < positive_rate)
        rows.append(([_value(f, bad, rng) for f in features], bad if label_is_bad else not bad))
    return rows


def train_editquality(kind: str, model_file: Path, rows: int = 3000, seed: int = 0,
                      **params: Any) -> Path:
    """`kind` is damaging or goodfaith; `params` override ORES' sizes (tests train small ones)."""
    features = FEATURE_LISTS[kind]
    model = GradientBoosting(features, labels=[True, False], version=VERSION,
                             random_state=seed, **{**ORES_PARAMS, **params})
    model.train(generated_rows(features, rows, seed, label_is_bad=kind == "damaging"))
    model.test(generated_rows(features, max(rows // 4, 50), seed + 1, label_is_bad=kind == "damaging"))
    with open(model_file, "wb") as handle:
        model.dump(handle)
    return model_file
