"""`revertrisk-language-agnostic`: a demonstration XGBoost classifier in the shape of Lift
Wing's language-agnostic revert-risk model, trained on the fixture wiki's labelled edits.

Trained from the fixture dumps' contents (`exporters.revertrisk.dump`: the revisions,
parents, editors and page creations the API gives once they are imported), with the very
feature function the service runs, saved as a native XGBoost model file and exported like
any user's: `lwt export tree model.json --service revertrisk-language-agnostic
--feature-names FILE --demonstration`. Fifty-odd labelled edits teach a model the shape of
the task, not the task: the card says `demonstration: true`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xgboost

from exporters.revertrisk.dump import Example, labelled_examples
from exporters.revertrisk.features import FEATURE_NAMES
from exporters.tree.export import TreeExportOptions, export_tree

NAME = "revertrisk-language-agnostic"
# The local wiki's fixture dumps (files read here, nothing of lwt imported).
FIXTURES = Path(__file__).resolve().parents[2] / "lwt" / "stack" / "fixture"
DUMPS = (FIXTURES / "enwiki-fixture.xml", FIXTURES / "enwiki-revertrisk.xml")
# enwiki-fixture's roles carry no `reverted` key: its vandalism is what a patroller reverts.
FIXTURE_ROLES = {"created": False, "good_edit": False, "revert": False, "bot_fix": False, "created_by_ip": False,
                 "sysop_restore": False, "page_creation_new_user": False, "vandalism_badwords": True,
                 "vandalism_keymash": True, "vandalism_blanking": True, "vandalism_informal": True}
PARAMS = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3, "min_child_weight": 0.5, "subsample": 1.0,
          "tree_method": "exact", "n_jobs": 1, "random_state": 0, "objective": "binary:logistic"}


def label(entry: dict[str, Any]) -> bool | None:
    if "reverted" in entry:
        return bool(entry["reverted"])
    return FIXTURE_ROLES.get(entry["role"])


def examples(dumps: Sequence[Path] = DUMPS) -> list[Example]:
    return labelled_examples(dumps, label)


def train(examples: Sequence[Example], model_file: Path, **overrides: Any) -> xgboost.XGBClassifier:
    """Fit on the examples' features and save the native model (feature names inside)."""
    X = np.array([e.features() for e in examples], dtype=np.float32)
    y = np.array([e.label for e in examples], dtype=int)
    model = xgboost.XGBClassifier(**{**PARAMS, **overrides})
    model.fit(X, y)
    booster = model.get_booster()
    booster.feature_names = list(FEATURE_NAMES)
    booster.save_model(str(model_file))
    return model


def build(repository: Path, force: bool, progress: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lwt-shipped-rr-") as work:
        model_file, names_file = Path(work) / "model.json", Path(work) / "features.txt"
        train(examples(), model_file)
        names_file.write_text("".join(f"{n}\n" for n in FEATURE_NAMES))
        return export_tree(model_file, TreeExportOptions(
            name=NAME, repository=repository, version=1, force=force, progress=progress,
            service="revertrisk-language-agnostic", feature_names=names_file, demonstration=True))
