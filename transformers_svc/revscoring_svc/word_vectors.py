"""Word ids for revscoring models whose word-vector mean runs in Triton (articletopic, drafttopic).

The export (`exporters.tree.word_vectors`) put the lookup and the float64 mean inside the
graph and left, in the version folder, the features to solve with the words datasource in
the vector feature's place (revscoring's own tokeniser and lower-casing solve it) and
`vocab.txt`, line i the word of row i. Here each revision's words become the rows of the
words the vectors know, dropped exactly where revscoring's `if word in keyed_vectors`
drops them, padded with -1 to a power-of-two width (requests of near lengths then share a
shape, which Triton's dynamic batcher needs to put them in one batch).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from exporters.contract.card import ModelCard, WordVectorsInfo
from exporters.contract.errors import CardError

WORD_IDS = "word_ids"
PAD = -1
MIN_WIDTH = 16


def solve_names(card: ModelCard) -> list[str]:
    """The names of what the service solves: the card's features, the words datasource in
    the vector feature's place (the check `load_features` makes against the pickled list)."""
    names = list(card.features)
    info = card.word_vectors
    if info is not None:
        if not 0 <= info.feature_index < len(names) or names[info.feature_index] != info.feature:
            raise CardError(f"the card's word_vectors feature {info.feature!r} is not feature {info.feature_index}")
        names[info.feature_index] = info.words
    return names


def read_vocabulary(path: Path) -> dict[str, int]:
    """One key per line, split on '\\n' only: `str.splitlines` also splits on U+2028, U+0085
    and other characters a vocabulary word may hold, and would shift every later id."""
    keys = path.read_text(encoding="utf-8").split("\n")
    if keys and keys[-1] == "":
        keys.pop()
    vocabulary = {k: i for i, k in enumerate(keys)}
    if len(vocabulary) != len(keys):
        raise CardError(f"{path}: repeated vocabulary keys")
    return vocabulary


def bucket(width: int) -> int:
    return max(MIN_WIDTH, 1 << max(0, int(width) - 1).bit_length())


class WordVectorInputs:
    """The vocabulary and vectors of one version; word ids and the other features as tensors."""

    def __init__(self, info: WordVectorsInfo, version_dir: Path) -> None:
        self.info = info
        self.vocabulary = read_vocabulary(version_dir / info.vocabulary_file)
        self.vectors = np.load(version_dir / info.vectors_file, allow_pickle=False)
        if len(self.vocabulary) != info.vocabulary_size or self.vectors.shape != (info.vocabulary_size, info.dim) \
                or hashlib.sha256(np.ascontiguousarray(self.vectors).tobytes()).hexdigest() != info.vectors_sha256:
            raise CardError(f"{version_dir}: the vocabulary and vectors differ from the card's word_vectors "
                            f"({len(self.vocabulary)} words, vectors {self.vectors.shape})")

    def ids(self, words: Sequence[str] | None) -> list[int]:
        return [self.vocabulary[w] for w in words or [] if w in self.vocabulary]

    def arrays(self, rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """`word_ids` INT64 [n, width] and the other features FP32 [n, n_scalars] (n_scalars
        may be 0: the graph then takes no `input`)."""
        index = self.info.feature_index
        batch = [self.ids(row[index]) for row in rows]
        ids = np.full((len(rows), bucket(max(len(b) for b in batch))), PAD, dtype=np.int64)
        for i, row_ids in enumerate(batch):
            ids[i, : len(row_ids)] = row_ids
        scalars = np.array([[float(v) for j, v in enumerate(row) if j != index] for row in rows], dtype=np.float32)
        return ids, scalars.reshape(len(rows), -1)

    def feature_values(self, row: Sequence[Any]) -> list[Any]:
        """The row as revscoring's features give it (for `extended_output`): the vector
        feature's value is the mean of the known words' vectors (zeros when none)."""
        ids = self.ids(row[self.info.feature_index])
        columns = self.vectors[ids].astype(np.float64).T if ids else np.zeros((self.info.dim, 1))
        mean = [math.fsum(c) / max(len(ids), 1) for c in columns]
        return [mean if j == self.info.feature_index else v for j, v in enumerate(row)]
