"""`lwt bench compare revertrisk-la`: Lift Wing's revert-risk model server against Triton.

The model: an XGBoost classifier over revertrisk-language-agnostic's 68 features, 300
trees of depth 6 (production's size class; the shipped demonstration model is far
smaller), trained on rows resampled with noise from the fixture wiki's labelled edits, and
exported by the tree exporter like any user's XGBoost file. The baseline
(`revertrisk_baseline`, `--kind xgboost`) loads the same file in a KServe Python server and
calls XGBoost per request; Triton serves the ONNX graph with dynamic batching on and off,
beside an identity entry of the same width (the protocol ceiling). One request is one
revision's features, as the service sends them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xgboost

from exporters.revertrisk.features import FEATURE_NAMES
from exporters.shipped.revertrisk_la import examples
from exporters.tree.export import TreeExportOptions, export_tree

if TYPE_CHECKING:  # benchmarks.models imports this module for BUILDERS
    from benchmarks.models import BenchModel

ROWS, TREES, DEPTH = 20_000, 300, 6


def training_rows(rows: int = ROWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The labelled edits' features, resampled with multiplicative noise and a few flipped labels."""
    found = examples()
    X0 = np.array([e.features() for e in found], dtype=np.float64)
    y0 = np.array([e.label for e in found], dtype=int)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(found), size=rows)
    X = X0[pick] * rng.lognormal(0.0, 0.3, size=(rows, X0.shape[1]))
    y = np.where(rng.random(rows) < 0.05, 1 - y0[pick], y0[pick])
    return X.astype(np.float32), y


def build(name: str, folder: Path) -> BenchModel:
    """BUILDERS["revertrisk-la"]: the XGBoost file, its Triton entry (batched and not) and an identity entry."""
    # Imported here: benchmarks.models imports this module for BUILDERS (a cycle at import time).
    from benchmarks.models import BenchModel, identity_entry, unbatched_copy

    repository, source = folder / "repository", folder / "model.json"
    if not (folder / ".built").exists():
        X, y = training_rows()
        model = xgboost.XGBClassifier(n_estimators=TREES, max_depth=DEPTH, learning_rate=0.1, tree_method="hist",
                                      n_jobs=2, random_state=0).fit(X, y)
        booster = model.get_booster()
        booster.feature_names = list(FEATURE_NAMES)
        booster.save_model(str(source))
        (folder / "features.txt").write_text("".join(f"{n}\n" for n in FEATURE_NAMES))
        export_tree(source, TreeExportOptions(name=name, repository=repository, version=1, progress=False,
                                              feature_names=folder / "features.txt", demonstration=True))
        unbatched_copy(repository, name)
        identity_entry(repository, len(FEATURE_NAMES))
        np.save(folder / "row.npy", X[:1])
    return BenchModel(name, "tree", source, repository, {"input": np.load(folder / "row.npy")}, baseline_kind="xgboost")
