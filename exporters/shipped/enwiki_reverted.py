"""`enwiki-reverted`: revscoring's own GradientBoosting "reverted" model trained on the
real 2015 enwiki features in `exporters/data/editquality/` (MIT, see its README), dumped
in revscoring's model-file format and exported like any user's model file, with the
parity check on all 4,862 testing rows.
"""

from __future__ import annotations

import bz2
import tempfile
from pathlib import Path
from typing import Any

from revscoring.scoring.models import GradientBoosting

from exporters.shipped.enwiki_features import REVERTED
from exporters.tree.export import TreeExportOptions, export_tree

DATA = Path(__file__).resolve().parents[1] / "data" / "editquality"
TRAINING = DATA / "enwiki.features_reverted.training.20k_2015.tsv.bz2"
TESTING = DATA / "enwiki.features_reverted.testing.20k_2015.tsv.bz2"
REVERTED_VERSION = "0.1.0"


def _cell(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def read_values_labels(path: Path) -> list[tuple[list[Any], bool]]:
    """rev_id, 9 feature values, label -> revscoring's [(values, label)]."""
    rows = []
    with bz2.open(path, "rt") as handle:
        for line in handle:
            cells = line.rstrip("\n").split("\t")
            rows.append(([_cell(c) for c in cells[1:-1]], cells[-1] == "True"))
    return rows


def train_enwiki_reverted(model_file: Path) -> Path:
    """Train and `dump` revscoring's GradientBoosting; ROC AUC etc. go into its info."""
    model = GradientBoosting(REVERTED, labels=[True, False], version=REVERTED_VERSION,
                             n_estimators=100, max_depth=5, random_state=0)
    model.train(read_values_labels(TRAINING))
    model.test(read_values_labels(TESTING))
    with open(model_file, "wb") as handle:
        model.dump(handle)
    return model_file


def build(repository: Path, force: bool, progress: bool) -> dict[str, Any]:
    """Trained here, dumped in revscoring's format and exported like any user's model file."""
    with tempfile.TemporaryDirectory(prefix="lwt-shipped-") as work:
        model_file = train_enwiki_reverted(Path(work) / "enwiki.reverted.gradient_boosting.model")
        options = TreeExportOptions(name="enwiki-reverted", repository=repository, version=1,
                                    verify_data=TESTING, force=force, progress=progress)
        return export_tree(model_file, options)
