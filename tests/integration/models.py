"""Models of every supported family, trained here on generated data and saved to files
the way their users save them (joblib, native XGBoost/LightGBM files, revscoring dump)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np

N_FEATURES = 10


@dataclass
class Built:
    path: Path
    predict_proba: Callable[[np.ndarray], np.ndarray]
    n_outputs: int


def rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, N_FEATURES)).astype(np.float32)


def _labels(X: np.ndarray, classes: int) -> np.ndarray:
    score = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3]
    if classes == 2:
        return (score > 0).astype(int)
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


def _sklearn_models() -> dict[str, tuple[Any, int]]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  HistGradientBoostingClassifier, RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    return {
        "sk-gbm": (GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), 2),
        "sk-gbm-6class": (GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), 6),
        "sk-rf": (RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), 2),
        "sk-extratrees": (ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0), 3),
        "sk-logreg": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), 2),
        "sk-svc": (SVC(kernel="linear", probability=True, random_state=0), 2),
        "sk-linearsvc": (CalibratedClassifierCV(LinearSVC(random_state=0), cv=3), 2),
        "sk-histgbm": (HistGradientBoostingClassifier(max_iter=20, random_state=0), 2),
    }


def build_all(folder: Path) -> dict[str, Built]:
    import lightgbm
    import xgboost
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.ensemble import RandomForestClassifier

    X = rows(600)
    built: dict[str, Built] = {}
    for name, (estimator, classes) in _sklearn_models().items():
        estimator.fit(X, _labels(X, classes))
        path = folder / f"{name}.joblib"
        joblib.dump(estimator, path)
        built[name] = Built(path, estimator.predict_proba, classes)

    xgb = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, _labels(X, 2))
    joblib.dump(xgb, folder / "xgb-sklearn.pkl")
    built["xgb-sklearn"] = Built(folder / "xgb-sklearn.pkl", xgb.predict_proba, 2)
    xgb6 = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, _labels(X, 6))
    xgb6.get_booster().save_model(str(folder / "xgb-native-6class.json"))
    built["xgb-native-6class"] = Built(folder / "xgb-native-6class.json", xgb6.predict_proba, 6)

    lgbm = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1).fit(X, _labels(X, 2))
    joblib.dump(lgbm, folder / "lgbm-sklearn.pkl")
    built["lgbm-sklearn"] = Built(folder / "lgbm-sklearn.pkl", lgbm.predict_proba, 2)
    lgbm.booster_.save_model(str(folder / "lgbm-native.txt"))
    built["lgbm-native"] = Built(folder / "lgbm-native.txt", lgbm.predict_proba, 2)

    Y = np.column_stack([_labels(X, 2), X[:, 4] > 0, X[:, 5] + X[:, 6] > 0.5]).astype(int)
    multi = MultiOutputClassifier(RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0)).fit(X, Y)
    joblib.dump(multi, folder / "sk-multilabel.joblib")
    built["sk-multilabel"] = Built(
        folder / "sk-multilabel.joblib",
        lambda x: np.column_stack([p[:, 1] for p in multi.predict_proba(x)]), 3,
    )
    built.update(revscoring_models(folder, X))
    return built


def revscoring_models(folder: Path, X: np.ndarray) -> dict[str, Built]:
    """revscoring ScoringModels (binary, multi-class, multi-label), saved with `dump`."""
    from revscoring import Feature
    from revscoring.scoring.models import GradientBoosting, RandomForest

    features = [Feature(f"f{i}", returns=float) for i in range(N_FEATURES)]
    values = [list(map(float, row)) for row in X]
    made: dict[str, Built] = {}

    binary = GradientBoosting(features, labels=[True, False], version="1.0", n_estimators=30, max_depth=3)
    binary.train(list(zip(values, (_labels(X, 2) == 1).tolist())))
    quality = ["Stub", "Start", "C", "B", "GA", "FA"]
    multiclass = RandomForest(features, labels=quality, version="2.0", n_estimators=20, max_depth=6)
    multiclass.train(list(zip(values, [quality[i] for i in _labels(X, 6)])))
    topics = ["Culture.Media", "Geography.Europe", "STEM.Physics"]
    tagged = [[t for t, on in zip(topics, (X[i, 0] > 0, X[i, 4] > 0, X[i, 5] > 0.3)) if on] for i in range(len(X))]
    multilabel = GradientBoosting(features, labels=topics, multilabel=True, version="3.0",
                                  n_estimators=20, max_depth=3)
    multilabel.train(list(zip(values, tagged)))

    for name, model in (("rs-binary", binary), ("rs-6class", multiclass), ("rs-multilabel", multilabel)):
        path = folder / f"{name}.model"
        with open(path, "wb") as handle:
            model.dump(handle)
        made[name] = Built(path, _revscoring_proba(model), len(model.labels))
    return made


def _revscoring_proba(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """revscoring's own `score()`, as a probability matrix in the exported label order."""
    keys = list(model.labels) if model.multilabel else list(model.estimator.classes_)

    def proba(X: np.ndarray) -> np.ndarray:
        return np.array([[model.score([float(v) for v in row])["probability"][k] for k in keys] for row in X])

    return proba


def dump_pickle(obj: Any, path: Path) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle)
    return path
