"""The vocabulary file the services' tokeniser reads (`exporters.contract.fasttext_tokens`).

Plain JSON: the hyper-parameters hashing depends on, words in id order, labels in output
order, the `pruneidx` map of pruned models as two parallel lists sorted by bucket, and for
hierarchical softmax the order the tree search offers labels (ties in the ranking).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporters.contract.fasttext_tokens import LABEL_PREFIX, PAD_ID, VOCABULARY_FORMAT
from exporters.fasttext.hs_tree import build_hs_tree, hs_leaf_order
from exporters.fasttext.model_file import FastTextModel


def vocabulary_payload(model: FastTextModel) -> dict[str, Any]:
    def text(raw: bytes) -> str:
        return raw.decode("utf-8", errors="surrogateescape")

    buckets = sorted(model.pruneidx)
    return {
        "format": VOCABULARY_FORMAT,
        "args": {k: int(model.args[k]) for k in ("minn", "maxn", "bucket", "wordNgrams", "dim")} | {"loss": model.loss},
        "label_prefix": LABEL_PREFIX,
        "pad_id": PAD_ID,
        "words": [text(w) for w in model.words],
        "labels": [text(label) for label in model.labels],
        "pruneidx_size": int(model.pruneidx_size),
        "pruneidx_keys": buckets,
        "pruneidx_values": [model.pruneidx[b] for b in buckets],
        "hs_leaf_order": hs_leaf_order(build_hs_tree(model.label_counts)) if model.loss == "hs" else None,
    }


def write_vocabulary(model: FastTextModel, path: Path) -> dict[str, Any]:
    payload = vocabulary_payload(model)
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
        json.dump(payload, handle, ensure_ascii=False, separators=(",", ":"))
    return payload
