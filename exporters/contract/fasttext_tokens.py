"""fastText input ids in pure Python, from the vocabulary file an export writes.

Why it is in the contract: the exporter's parity check and the services must turn text
into exactly the same ids, and the vocabulary file (`VOCABULARY`) is the interface
between them, like the revscoring feature lists beside it. It imports nothing of ours
and not the `fasttext` package: the services run without it.

What it reproduces (fastText 0.9.2 `Dictionary::getLine(std::istream&, words, labels)`,
as `predict(text)` calls it on `text + "\\n"`), checked against the fasttext package's own
`get_line`, `get_subwords` and `get_sentence_vector` in tests/unit/test_fasttext_tokens.py:

* tokens are split on the bytes ` \\t\\n\\v\\f\\r\\0` only (`str.split()` also splits on
  NBSP, U+2003, U+0085, ...); `\\n` is the end of line `</s>` and reading stops at the
  first one; a literal `</s>` token ends the line too;
* a dictionary label, or an out-of-vocabulary token starting with `__label__` (the
  model file does not save the prefix, so the default applies), is skipped entirely;
* a known word gives its id then (maxn > 0) its character n-grams; an unknown word only
  its n-grams; `</s>` never gets n-grams. N-grams of `"<" + word + ">"` with n in
  [minn, maxn] counted in UTF-8 characters, the lone `<` and `>` excluded; id =
  nwords + fnv1a(ngram) % bucket;
* FNV-1a 32 over bytes *sign-extended* from int8 (`h ^= uint32(int8(b))`);
* word n-grams (wordNgrams > 1) over the int32 hashes of all word tokens (unknown ones
  and `</s>` included), sign-extended to uint64: `h = h * 116049371 + hash[j]`, pushed
  as `h % bucket` after every word and character n-gram id;
* pruned (quantized with cutoff) models keep a hashed id only when it is in `pruneidx`
  (remapped); `pruneidx_size == 0` drops them all.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

VOCABULARY = "fasttext_vocabulary.json"  # in the version folder, beside model.onnx
VOCABULARY_FORMAT = "liftwing-fasttext-vocabulary/1"
EOS = "</s>"
BOW, EOW = "<", ">"
LABEL_PREFIX = "__label__"  # Args::label is not saved in model files: the default applies at load
PAD_ID = -1  # the graph's appended zero row: pads may go anywhere in a row
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_NGRAM_MULT = 116049371
_SEPARATORS = re.compile("[ \t\v\f\r\0]+")
_SIGNED_BYTE = [b if b < 0x80 else (b | 0xFFFFFF00) for b in range(256)]  # uint32(int8(b))


def fnv1a_hash(data: str | bytes) -> int:
    """fastText's `Dictionary::hash` (FNV-1a 32 with sign-extended bytes), as uint32."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = 2166136261
    for b in data:
        h = ((h ^ _SIGNED_BYTE[b]) * 16777619) & _M32
    return h


def tokenize(text: str) -> list[str]:
    """The tokens fastText reads from `text + "\\n"`, up to and including the first `</s>`."""
    line = text.split("\n", 1)[0]
    tokens = [t for t in _SEPARATORS.split(line) if t]
    if EOS in tokens:
        return tokens[: tokens.index(EOS) + 1]
    return tokens + [EOS]


def label_text(label: str) -> str:
    """`__label__de` -> `de`: what the card, labels.txt and the services' answers say."""
    return label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label


class FastTextTokenizer:
    """Text -> fastText input ids, from an exported vocabulary (`vocabulary_payload`)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        if payload.get("format") != VOCABULARY_FORMAT:
            raise ValueError(f"not a fastText vocabulary of format {VOCABULARY_FORMAT!r}")
        args = payload["args"]
        self.minn, self.maxn = int(args["minn"]), int(args["maxn"])
        self.bucket, self.word_ngrams = int(args["bucket"]), int(args["wordNgrams"])
        self.loss: str = args["loss"]
        self.words: list[str] = list(payload["words"])
        self.labels: list[str] = list(payload["labels"])  # raw, with the prefix, in output order
        self.nwords = len(self.words)
        self.word2id = {w: i for i, w in enumerate(self.words)}
        self.label_set = frozenset(self.labels)
        self.pruneidx_size = int(payload["pruneidx_size"])
        self.pruneidx = dict(zip(payload["pruneidx_keys"], payload["pruneidx_values"], strict=True))
        # hs: the order fastText's tree search offers labels to its ranking heap (ties).
        self.push_order: list[int] | None = payload.get("hs_leaf_order")
        # Bounded per-instance cache: tokens repeat a lot, their n-grams need not be hashed again.
        self._token_info = lru_cache(maxsize=200_000)(self._token_info_uncached)

    @classmethod
    def from_file(cls, path: str | Path) -> FastTextTokenizer:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return cls(json.load(handle))

    # --- hashing ---------------------------------------------------------------------------
    def _push_hash(self, out: list[int], h: int) -> None:
        """`Dictionary::pushHash`: drop or remap hashed ids of pruned models."""
        if self.pruneidx_size == 0 or h < 0:
            return
        if self.pruneidx_size > 0:
            kept = self.pruneidx.get(h)
            if kept is None:
                return
            h = kept
        out.append(self.nwords + h)

    def _char_ngrams(self, word: str, out: list[int], substrings: list[str] | None = None) -> None:
        """`Dictionary::computeSubwords` on `<word>` (n counted in UTF-8 characters)."""
        chars = [c.encode("utf-8") for c in BOW + word + EOW]
        size, minn, maxn, bucket, signed = len(chars), self.minn, self.maxn, self.bucket, _SIGNED_BYTE
        for i in range(size):
            h = 2166136261
            j, n = i, 1
            while j < size and n <= maxn:
                for b in chars[j]:
                    h = ((h ^ signed[b]) * 16777619) & _M32
                j += 1
                if n >= minn and not (n == 1 and (i == 0 or j == size)):
                    self._push_hash(out, h % bucket)
                    if substrings is not None:
                        substrings.append(b"".join(chars[i:j]).decode("utf-8"))
                n += 1

    def _token_info_uncached(self, token: str) -> tuple[tuple[int, ...], int]:
        """A word token's ids, and its hash as `addWordNgrams` reads it (int32 -> uint64)."""
        out: list[int] = []
        wid = self.word2id.get(token, -1)
        if wid >= 0:
            out.append(wid)
        if token != EOS and (wid < 0 or self.maxn > 0):
            self._char_ngrams(token, out)
        h = fnv1a_hash(token)
        if h & 0x80000000:
            h |= 0xFFFFFFFF00000000
        return tuple(out), h

    def _is_label(self, token: str) -> bool:
        return token in self.label_set or (token not in self.word2id and token.startswith(LABEL_PREFIX))

    # --- the fasttext package's API, for tests against it ------------------------------------
    def get_word_id(self, word: str) -> int:
        return self.word2id.get(word, -1)

    def get_subword_id(self, subword: str) -> int:
        """nwords + hash % bucket, unpruned (as the fasttext package computes it)."""
        return self.nwords + fnv1a_hash(subword) % self.bucket

    def get_subwords(self, word: str) -> tuple[list[str], list[int]]:
        subs: list[str] = []
        ids: list[int] = []
        wid = self.word2id.get(word, -1)
        if wid >= 0:
            subs.append(word)
            ids.append(wid)
        if word != EOS:
            self._char_ngrams(word, ids, subs)
        return subs, ids

    def get_line(self, text: str) -> tuple[list[str], list[str]]:
        """(word tokens with `</s>`, labels in the dictionary), as `get_line` gives them."""
        words, labels = [], []
        for token in tokenize(text):
            if self._is_label(token):
                if token in self.label_set:
                    labels.append(token)
            else:
                words.append(token)
        return words, labels

    # --- what the services and the parity check use --------------------------------------------
    def encode(self, text: str) -> list[int]:
        """The input ids of `predict(text)`; empty when fastText would predict nothing.
        Raises UnicodeEncodeError on lone surrogates (fastText's strict mode refuses them)."""
        ids: list[int] = []
        hashes: list[int] = []
        for token in tokenize(text):
            if self._is_label(token):
                continue
            token_ids, h = self._token_info(token)
            ids.extend(token_ids)
            hashes.append(h)
        if self.word_ngrams > 1:
            n, bucket = self.word_ngrams, self.bucket
            for i in range(len(hashes)):
                h = hashes[i]
                for j in range(i + 1, min(len(hashes), i + n)):
                    h = (h * _NGRAM_MULT + hashes[j]) & _M64
                    self._push_hash(ids, h % bucket)
        return ids


def pad_batch(rows: Sequence[Sequence[int]], multiple: int = 1) -> np.ndarray:
    """int64 [batch, width] padded with PAD_ID; width rounded up to `multiple` so requests
    of near lengths share a shape (Triton's dynamic batcher merges equal shapes only)."""
    longest = max((len(r) for r in rows), default=1) or 1
    width = -(-longest // multiple) * multiple
    batch = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
    return batch
