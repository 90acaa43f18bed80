"""revscoring feature lists as part of a repository entry, and the offline data they need.

A revscoring model carries its own feature list (revscoring `Feature` objects: a
dependency graph of datasources). ORES and Lift Wing take the features from the model
file; so do we: the exporter pickles the model's list into the version folder
(`revscoring_features.pickle`, listed in SHA512SUMS, pushed and pulled like every file)
and a service unpickles it from there, with the card's names as the check. Any
revscoring model of any family and language is then served without code changes.

revscoring's English features read NLTK's stopwords corpus, which `nltk.download` cannot
fetch offline: the project ships the list and puts it on `nltk.data.path` when this module
is imported, before anything unpickles or imports `revscoring.languages`.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Sequence

import nltk

from exporters.contract.errors import CardError, FeatureMismatch
from exporters.contract.layout import REVSCORING_FEATURES

NLTK_DATA = Path(__file__).parent / "data" / "nltk"
if str(NLTK_DATA) not in nltk.data.path:
    nltk.data.path.insert(0, str(NLTK_DATA))


def canonical_feature_name(name: str) -> str:
    """revscoring prints set arguments in hash order (`in_group({'sysop', 'bot'})`):
    sort them so a name is the same in every process."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", name)


def feature_names(features: Sequence[Any]) -> list[str]:
    return [canonical_feature_name(str(f)) for f in features]


def dump_features(features: Sequence[Any], version_dir: Path) -> Path:
    path = version_dir / REVSCORING_FEATURES
    path.write_bytes(pickle.dumps(list(features), protocol=4))
    return path


def load_features(version_dir: Path, expected_names: Sequence[str]) -> list[Any]:
    """The model's own revscoring features, checked name by name against its card.

    Unpickling runs code, as loading any revscoring model file does: the file comes from
    a version folder whose every file was sha512-verified against SHA512SUMS on pull."""
    path = version_dir / REVSCORING_FEATURES
    if not path.is_file():
        raise CardError(f"{version_dir}: no {REVSCORING_FEATURES} (exported by the first round?): "
                        "re-export the model file with `lwt export tree`")
    try:
        features = pickle.loads(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise CardError(f"{path}: cannot load the feature list ({type(exc).__name__}: {exc})") from exc
    names = feature_names(features)
    if names != list(expected_names):
        differ = next(((i, a, b) for i, (a, b) in enumerate(zip(names, expected_names)) if a != b), None)
        detail = f"feature {differ[0]}: {differ[1]!r} != card's {differ[2]!r}" if differ else \
            f"{len(names)} features, the card lists {len(expected_names)}"
        raise FeatureMismatch(f"{path}: the features differ from the model card's ({detail})")
    return features
