"""Inputs for the parity check when the user gives no `--verify-data`.

A tree ensemble is piecewise constant between its split thresholds, so drawing each
feature from the midpoints between its thresholds (and just outside their range)
reaches every leaf region without sitting on a boundary, where float32/float64
rounding, not the export, would decide the branch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

import numpy as np
from sklearn.pipeline import Pipeline

from exporters.tree.loading import LoadedModel


def _sklearn_trees(estimator: Any) -> Iterable[Any]:
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    if hasattr(estimator, "tree_"):
        yield estimator.tree_
    for member in np.ravel(getattr(estimator, "estimators_", [])):
        yield from _sklearn_trees(member)
    for member in getattr(estimator, "calibrated_classifiers_", []):
        yield from _sklearn_trees(getattr(member, "estimator", None))


def _sklearn_thresholds(estimator: Any, found: dict[int, set[float]]) -> None:
    for tree in _sklearn_trees(estimator):
        for feature, threshold in zip(tree.feature, tree.threshold):
            if feature >= 0:
                found[int(feature)].add(float(threshold))
    for predictors in getattr(estimator, "_predictors", []):  # HistGradientBoosting
        for predictor in predictors:
            for node in predictor.nodes:
                if not node["is_leaf"]:
                    found[int(node["feature_idx"])].add(float(node["num_threshold"]))


def _xgboost_thresholds(booster: Any, found: dict[int, set[float]]) -> None:
    names = booster.feature_names or []

    def walk(node: dict) -> None:
        if "split" in node:
            split = node["split"]
            index = names.index(split) if split in names else int(str(split).lstrip("f"))
            found[index].add(float(node["split_condition"]))
            for child in node.get("children", []):
                walk(child)

    for tree in booster.get_dump(dump_format="json"):
        walk(json.loads(tree))


def _lightgbm_thresholds(booster: Any, found: dict[int, set[float]]) -> None:
    def walk(node: dict) -> None:
        if "split_feature" in node and isinstance(node.get("threshold"), (int, float)):
            found[int(node["split_feature"])].add(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])


def split_thresholds(model: LoadedModel) -> dict[int, np.ndarray]:
    found: dict[int, set[float]] = defaultdict(set)
    for part in model.parts:
        native = getattr(part, "native", None) or (part.get_booster() if hasattr(part, "get_booster") else None)
        if native is None and hasattr(part, "booster_"):
            native = part.booster_
        module = type(native).__module__ if native is not None else ""
        if module.startswith("xgboost"):
            _xgboost_thresholds(native, found)
        elif module.startswith("lightgbm"):
            _lightgbm_thresholds(native, found)
        else:
            _sklearn_thresholds(part, found)
    return {k: np.array(sorted(v)) for k, v in found.items()}


def candidates(thresholds: np.ndarray) -> np.ndarray:
    mids = (thresholds[:-1] + thresholds[1:]) / 2
    span = max(1.0, float(thresholds[-1] - thresholds[0]))
    return np.concatenate([[thresholds[0] - span], mids, [thresholds[-1] + span]])


def training_ranges(model: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (centre, spread) from what a non-tree model kept of its training data:
    a StandardScaler's mean/scale, an SVC's support vectors; else (0, 1)."""
    centre, spread = np.zeros(model.n_features), np.ones(model.n_features)
    for part in model.parts:
        steps = [s for _, s in getattr(part, "steps", [])] or [part]
        for step in steps:
            for inner in [step, *[getattr(c, "estimator", None) for c in getattr(step, "calibrated_classifiers_", [])]]:
                if hasattr(inner, "mean_") and hasattr(inner, "scale_"):
                    return np.asarray(inner.mean_, float), np.asarray(inner.scale_, float)
                if hasattr(inner, "support_vectors_") and len(inner.support_vectors_):
                    vectors = np.asarray(inner.support_vectors_, float)
                    return vectors.mean(axis=0), np.maximum(vectors.std(axis=0), 1e-6)
    return centre, spread


def sample_inputs(model: LoadedModel, rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Rows drawn feature by feature from the split-threshold grid, or from the training
    statistics for features no split uses (float32, as served)."""
    rng = np.random.default_rng(seed)
    thresholds = split_thresholds(model)
    centre, spread = training_ranges(model)
    columns = []
    for j in range(model.n_features):
        if thresholds.get(j) is not None and thresholds[j].size:
            columns.append(rng.choice(candidates(thresholds[j]), size=rows))
        else:
            columns.append(rng.normal(centre[j], 1.5 * spread[j], size=rows))
    X = np.column_stack(columns).astype(np.float32)
    if model.preprocess is not None:  # thresholds live in the scaled space: map back
        scaler = getattr(model.preprocess, "__self__", None)
        if scaler is not None and hasattr(scaler, "inverse_transform"):
            X = scaler.inverse_transform(X.astype(np.float64)).astype(np.float32)
            X = X[_clear_of_thresholds(scaler.transform(X.astype(np.float64)), thresholds)]
    return X


def _clear_of_thresholds(Z: np.ndarray, thresholds: dict[int, np.ndarray], margin: float = 1e-5) -> np.ndarray:
    """Rows whose scaled values are not within `margin` (relative) of any split threshold.

    A model that scales its features (revscoring's `center`/`scale`, as ORES trained them)
    is served scaling in float32, the original scales in float64: a row that the round
    trip through the raw space left a few ulps from a threshold could fall on either side
    of it, and that would be float rounding, not the export. Such rows are not parity rows."""
    keep = np.ones(Z.shape[0], dtype=bool)
    for j, values in thresholds.items():
        if values.size:
            distance = np.min(np.abs(Z[:, j:j + 1] - values[None, :]), axis=1)
            keep &= distance > margin * np.maximum(1.0, np.abs(Z[:, j]))
    return keep
