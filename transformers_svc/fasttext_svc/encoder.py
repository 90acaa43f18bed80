"""The services' side of a fastText model: text in, padded ids out, ranked labels back.

`normalize` is Lift Wing langid's own normalisation (newlines, tabs and runs of spaces
become one space, ends stripped, the text cut to a length), so a text is one line as
fastText's `predict` needs. Ids come from the vocabulary stored beside the model
(`exporters.contract.fasttext_tokens`, checked against the fasttext package); rows are
padded with -1 to a multiple of `BUCKET`, so that requests of near lengths share a shape
and Triton's dynamic batcher can merge them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from exporters.contract.card import ModelCard
from exporters.contract.errors import CardError
from exporters.contract.fasttext_ranking import rank_like_fasttext
from exporters.contract.fasttext_tokens import FastTextTokenizer, label_text, pad_batch
from exporters.contract.layout import CONFIG
from transformers_svc.errors import BadRequest

BUCKET = 16
_WHITESPACE = re.compile(r"[\n\r\v\t ]+")  # Lift Wing langid's normalize_text
_MAX_BATCH_SIZE = re.compile(r"^max_batch_size:\s*(\d+)\s*$", re.MULTILINE)


def entry_max_batch_size(model_dir: Path) -> int | None:
    """`max_batch_size` of the entry's config.pbtxt, read as text: the services never load
    tritonclient's protobufs (they clash with KServe's)."""
    try:
        found = _MAX_BATCH_SIZE.search((model_dir / CONFIG).read_text())
    except OSError:
        return None
    return int(found.group(1)) if found and int(found.group(1)) > 0 else None


def normalize(text: str, max_chars: int | None) -> str:
    text = _WHITESPACE.sub(" ", text).strip()
    return text[:max_chars] if max_chars else text


class FastTextEncoder:
    def __init__(self, card: ModelCard, version_dir: Path) -> None:
        if card.fasttext is None:
            raise CardError(f"{version_dir}: a fastText service needs a fastText model (the card has no `fasttext`)")
        self.tokenizer = FastTextTokenizer.from_file(Path(version_dir) / card.fasttext.vocabulary_file)
        self.labels = [label_text(label) for label in self.tokenizer.labels]
        self.max_chars = card.fasttext.max_text_chars

    def encode(self, text: str, what: str = "text") -> list[int]:
        """fastText's ids of `text`; 400 when it cannot be read as fastText reads it."""
        try:
            ids = self.tokenizer.encode(text)
        except UnicodeEncodeError:
            raise BadRequest(f"{what} is not valid Unicode (a lone surrogate)") from None
        if not ids:
            raise BadRequest(f"{what} has nothing this model can read")
        return ids

    @staticmethod
    def batch(rows: Sequence[Sequence[int]]) -> np.ndarray:
        return pad_batch(rows, BUCKET)

    def ranked(self, probabilities: np.ndarray, k: int = -1) -> list[tuple[str, float]]:
        """(label, score) best first, in fastText's own order (ties included)."""
        order = rank_like_fasttext(probabilities, k=k, push_order=self.tokenizer.push_order)
        return [(self.labels[i], p) for i, p in order]
