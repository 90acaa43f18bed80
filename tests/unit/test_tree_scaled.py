"""A revscoring model trained with `center`/`scale` (as ORES trained them) exports with
parity on threshold-sampled rows: rows float rounding could put on either side of a split
are not used as parity rows."""

from __future__ import annotations

import numpy as np
from revscoring import Feature
from revscoring.scoring.models import GradientBoosting

from exporters.tree.export import TreeExportOptions, export_tree


def test_a_scaled_revscoring_model_exports_with_parity(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 20)) * rng.uniform(0.001, 1000, size=20)
    y = X[:, 0] / 500 + X[:, 1] / 300 + rng.normal(size=3000) > 0
    model = GradientBoosting([Feature(f"f{i}", returns=float) for i in range(20)], labels=[True, False],
                             version="1", n_estimators=300, max_depth=5, center=True, scale=True)
    model.train(list(zip([list(map(float, row)) for row in X], y.tolist())))
    with open(tmp_path / "m.model", "wb") as handle:
        model.dump(handle)
    summary = export_tree(tmp_path / "m.model", TreeExportOptions(name="scaled", repository=tmp_path / "repo",
                                                                   progress=False))
    parity = summary["parity"]
    assert parity["passed"] and parity["labels_identical"] and parity["rows"] > 1500
