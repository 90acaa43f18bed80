"""Read a trained model file into one shape every tree/linear converter understands.

Accepted: a pickle/joblib of a scikit-learn estimator or pipeline, of an XGBoost or
LightGBM classifier (sklearn API), a native XGBoost (`.json`/`.ubj`) or LightGBM (text)
model file, or a revscoring `ScoringModel` file (revscoring's `dump`, a pickle). Pickles
run code when loaded: only export files you trust, as with revscoring and Lift Wing today.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import joblib
import lightgbm
import numpy as np
import xgboost
from sklearn.multioutput import MultiOutputClassifier

from exporters.contract.errors import ExportError
from exporters.contract.layout import sha512_file
from exporters.contract.revscoring_features import feature_names


@dataclass
class LoadedModel:
    """A classifier with the metadata its model card needs.

    `parts` holds one estimator for single-label models, or one binary estimator per
    label for multi-label ones (revscoring keeps them as `(label, estimator)` pairs);
    `probabilities(X)` is the original's own answer, the reference for the parity check.
    """

    kind: str
    parts: list[Any]
    labels: list[Any]
    n_features: int
    multilabel: bool = False
    feature_names: list[str] = field(default_factory=list)
    version: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    statistics: Any = None
    source: dict[str, str] = field(default_factory=dict)
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None
    revscoring_features: list[Any] | None = None  # a revscoring model's own Feature objects

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.preprocess is not None:
            X = self.preprocess(X)
        if self.multilabel:
            return np.column_stack([_positive(p, X) for p in self.parts])
        return np.asarray(self.parts[0].predict_proba(X), dtype=np.float64)


def positive_index(estimator: Any) -> int:
    """The column of the positive class of a binary estimator (revscoring's `True`)."""
    classes = list(getattr(estimator, "classes_", [0, 1]))
    return classes.index(True) if True in classes else len(classes) - 1


def _positive(estimator: Any, X: np.ndarray) -> np.ndarray:
    return np.asarray(estimator.predict_proba(X))[:, positive_index(estimator)]


def label_text(label: Any) -> str:
    """Labels as ORES writes them: JSON for booleans and numbers (`true`), else the string."""
    return str(label) if isinstance(label, str) else json.dumps(label.item() if hasattr(label, "item") else label)


def _unpickle(path: Path) -> Any:
    try:
        return joblib.load(path)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ExportError(f"{path}: the pickle needs code that is not installed ({exc})") from exc
    except Exception as exc:  # a corrupt or truncated pickle fails in many ways (struct.error, EOFError, ...)
        raise ExportError(f"{path}: not a readable pickle/joblib model file ({type(exc).__name__}: {exc})") from exc


def _native_booster(path: Path) -> Any | None:
    """A native XGBoost or LightGBM model file, or None when it is neither."""
    head = path.read_bytes()[:64]
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        try:
            return lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as exc:
            raise ExportError(f"{path}: corrupt LightGBM model file ({exc})") from exc
    if path.suffix in (".json", ".ubj") or head.lstrip().startswith(b'{"learner"'):
        booster = xgboost.Booster()
        try:
            booster.load_model(str(path))
        except xgboost.core.XGBoostError as exc:
            raise ExportError(f"{path}: corrupt XGBoost model file ({str(exc).splitlines()[0]})") from exc
        return booster
    return None


def load_model(path: Path) -> LoadedModel:
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise ExportError(f"{path}: empty model file")
    obj = _native_booster(path) or _unpickle(path)
    model = from_object(obj, path)
    model.source = {"file": path.name, "sha512": sha512_file(path), "class": _class_name(obj)}
    return model


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def from_object(obj: Any, path: Path) -> LoadedModel:
    """Dispatch on what was loaded; an unsupported object is a one-line error."""
    if _is_revscoring(obj):
        return _from_revscoring(obj)
    if type(obj).__module__.startswith("xgboost") and type(obj).__name__ == "Booster":
        return _from_xgboost_booster(obj)
    if type(obj).__module__.startswith("lightgbm") and type(obj).__name__ == "Booster":
        return _from_lightgbm_booster(obj)
    if isinstance(obj, MultiOutputClassifier):
        return LoadedModel(
            kind="sklearn", parts=list(obj.estimators_), labels=list(range(len(obj.estimators_))),
            n_features=int(obj.n_features_in_), multilabel=True, params=_params(obj),
        )
    if hasattr(obj, "predict_proba") and hasattr(obj, "classes_"):
        try:
            obj.predict_proba(np.zeros((1, int(obj.n_features_in_))))
        except AttributeError as exc:  # e.g. SVC(probability=False)
            raise ExportError(f"{path}: {type(obj).__name__} gives no probabilities ({exc})") from exc
        return LoadedModel(
            kind=_family(obj), parts=[obj], labels=list(obj.classes_),
            n_features=int(obj.n_features_in_), params=_params(obj),
            feature_names=[str(n) for n in getattr(obj, "feature_names_in_", [])],
        )
    raise ExportError(
        f"{path}: unsupported model {_class_name(obj)} (need a classifier with predict_proba, "
        "an XGBoost/LightGBM model, or a revscoring ScoringModel)"
    )


def _family(obj: Any) -> str:
    module = type(obj).__module__
    for family in ("xgboost", "lightgbm"):
        if module.startswith(family):
            return family
    return "sklearn"


def _params(obj: Any) -> dict[str, Any]:
    try:
        return {k: v for k, v in obj.get_params(deep=False).items() if _plain(v)}
    except Exception:  # noqa: BLE001 - params are informative only
        return {}


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_revscoring(obj: Any) -> bool:
    return any(c.__module__.startswith("revscoring.scoring.models") for c in type(obj).__mro__)


def _from_revscoring(model: Any) -> LoadedModel:
    """A revscoring ScoringModel: estimator(s), its optional scaler and its own metadata."""
    multilabel = bool(getattr(model, "multilabel", False))
    parts = [e for _, e in model.estimators] if multilabel else [model.estimator]
    if not all(hasattr(p, "classes_") for p in parts):
        raise ExportError("revscoring model file holds an untrained estimator")
    scaler = getattr(model, "scaler", None)
    labels = list(model.labels) if multilabel else list(parts[0].classes_)
    statistics = None
    try:
        statistics = json.loads(json.dumps(model.info.format(formatting="json")["statistics"], default=str))
    except Exception:  # noqa: BLE001 - a model without test statistics is still exportable
        statistics = None
    return LoadedModel(
        kind="revscoring",
        parts=parts,
        labels=labels,
        n_features=int(parts[0].n_features_in_),
        multilabel=multilabel,
        feature_names=feature_names(model.features),
        revscoring_features=list(model.features),
        version=str(model.version) if model.version is not None else None,
        params={k: v for k, v in model.params.items() if _plain(v)},
        statistics=statistics,
        preprocess=scaler.transform if scaler is not None else None,
    )


def _from_xgboost_booster(booster: Any) -> LoadedModel:
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    if objective not in ("binary:logistic", "multi:softprob"):
        raise ExportError(f"XGBoost objective {objective} is not a probability classifier")
    n_classes = max(int(config["learner"]["learner_model_param"].get("num_class", "0") or 0), 2)
    return LoadedModel(kind="xgboost", parts=[_NativeBooster(booster, n_classes)],
                       labels=list(range(n_classes)), n_features=booster.num_features(),
                       feature_names=list(booster.feature_names or []))


class _NativeBooster:
    """predict_proba over a native XGBoost/LightGBM Booster; `native` is what converts."""

    def __init__(self, booster: Any, n_classes: int) -> None:
        self.native = booster
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if type(self.native).__module__.startswith("xgboost"):
            p = self.native.predict(xgboost.DMatrix(X, feature_names=self.native.feature_names))
        else:
            p = self.native.predict(X)
        return p if p.ndim == 2 else np.column_stack([1 - p, p])


def _from_lightgbm_booster(booster: Any) -> LoadedModel:
    objective = booster.dump_model()["objective"].split()[0]
    if objective not in ("binary", "multiclass", "multiclassova"):
        raise ExportError(f"LightGBM objective {objective} is not a probability classifier")
    n_classes = 2 if objective == "binary" else int(booster.dump_model()["num_class"])
    return LoadedModel(kind="lightgbm", parts=[_NativeBooster(booster, n_classes)],
                       labels=list(range(n_classes)), n_features=booster.num_feature(),
                       feature_names=booster.feature_name())
