"""fastText's model-file format (`FastText::loadModel`, versions 11-12), read with numpy.

Why not the fasttext package: its Python API hides what the export needs. It refuses
`get_input_matrix()` on any quantized model, and never shows the product-quantization
codes and centroids, the label counts the hierarchical-softmax tree is built from, or the
`pruneidx` map of pruned models. (It also does not save `qnorm`, `dsub`, `cutoff` or the
label prefix: `getArgs()` reports defaults for them after loading.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from exporters.contract.errors import ExportError

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
LOSS_NAMES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
MODEL_NAMES = {1: "cbow", 2: "skipgram", 3: "supervised"}
KSUB = 256  # ProductQuantizer: nbits = 8
_ARGS = ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "loss", "model", "bucket", "minn", "maxn",
         "lrUpdateRate")


@dataclass
class ProductQuantizer:
    """`nsubq` sub-spaces of `dsub` dims (the last one `lastdsub`), 256 centroids each."""

    dim: int
    nsubq: int
    dsub: int
    lastdsub: int
    centroids: np.ndarray  # flat float32 [dim * 256], fastText's layout

    def centroid_table(self) -> np.ndarray:
        """[nsubq, 256, dsub] float32; a narrower last sub-space is zero-padded to dsub."""
        out = np.zeros((self.nsubq, KSUB, self.dsub), dtype=np.float32)
        for m in range(self.nsubq):
            width = self.lastdsub if m == self.nsubq - 1 else self.dsub
            start = m * KSUB * self.dsub
            out[m, :, :width] = self.centroids[start:start + KSUB * width].reshape(KSUB, width)
        return out


@dataclass
class QuantMatrix:
    """Row i = norm_i * concat_m(centroid[m, code[i, m]])."""

    rows: int
    dim: int
    codes: np.ndarray  # uint8 [rows, nsubq]
    pq: ProductQuantizer
    qnorm: bool
    norm_codes: np.ndarray | None = None  # uint8 [rows]
    npq: ProductQuantizer | None = None  # dim 1, dsub 1

    def norms(self) -> np.ndarray:
        """float32 [rows]; all ones without qnorm."""
        if not self.qnorm or self.npq is None or self.norm_codes is None:
            return np.ones(self.rows, dtype=np.float32)
        return self.npq.centroids[self.norm_codes.astype(np.int64)].astype(np.float32)

    def dequantize(self, with_norms: bool = True) -> np.ndarray:
        """Dense float32 [rows, dim], bit-identical to fastText's `x += norm * c`."""
        table = self.pq.centroid_table()
        parts = table[np.arange(self.pq.nsubq)[None, :], self.codes.astype(np.int64)]
        dense = parts.reshape(self.rows, -1)[:, : self.dim]
        return (dense * self.norms()[:, None]).astype(np.float32) if with_norms else dense.astype(np.float32)


@dataclass
class FastTextModel:
    """Everything in a model file that prediction depends on."""

    version: int
    args: dict[str, Any]
    words: list[bytes]  # id -> word, UTF-8 bytes as stored
    labels: list[bytes]
    label_counts: np.ndarray
    pruneidx_size: int  # -1: not pruned; 0: no hashed rows at all
    pruneidx: dict[int, int]  # hashed bucket -> compacted row offset
    input: np.ndarray | QuantMatrix
    output: np.ndarray | QuantMatrix

    @property
    def loss(self) -> str:
        return LOSS_NAMES[self.args["loss"]]

    @property
    def nwords(self) -> int:
        return len(self.words)

    @property
    def nlabels(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.args["dim"])

    @property
    def quantized(self) -> bool:
        return isinstance(self.input, QuantMatrix)

    def input_dense(self) -> np.ndarray:
        return self.input.dequantize() if isinstance(self.input, QuantMatrix) else self.input

    def label_strings(self) -> list[str]:
        return [label.decode("utf-8", errors="surrogateescape") for label in self.labels]


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path

    def _bytes(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ExportError(f"{self.path}: truncated fastText model file")
        return data

    def read(self, fmt: str) -> Any:
        values = struct.unpack("<" + fmt, self._bytes(struct.calcsize(fmt)))
        return values[0] if len(values) == 1 else values

    def array(self, dtype: Any, count: int) -> np.ndarray:
        kind = np.dtype(dtype).newbyteorder("<")
        return np.frombuffer(self._bytes(kind.itemsize * count), dtype=kind).astype(np.dtype(dtype))

    def cstring(self) -> bytes:
        buffer = bytearray()
        while (c := self._bytes(1)) != b"\0":
            buffer += c
        return bytes(buffer)

    def pq(self) -> ProductQuantizer:
        dim, nsubq, dsub, lastdsub = self.read("iiii")
        return ProductQuantizer(dim, nsubq, dsub, lastdsub, self.array(np.float32, dim * KSUB))

    def quant_matrix(self) -> QuantMatrix:
        qnorm = bool(self.read("?"))
        rows, dim = self.read("qq")
        codes = self.array(np.uint8, self.read("i"))
        pq = self.pq()
        matrix = QuantMatrix(rows, dim, codes.reshape(rows, pq.nsubq), pq, qnorm)
        if qnorm:
            matrix.norm_codes = self.array(np.uint8, rows)
            matrix.npq = self.pq()
        return matrix

    def dense(self) -> np.ndarray:
        rows, dim = self.read("qq")
        return self.array(np.float32, rows * dim).reshape(rows, dim)


def read_model(path: Path) -> FastTextModel:
    """Parse a supervised model file; ExportError naming the file on anything else."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise ExportError(f"{path}: cannot read the model file ({exc.strerror})") from None
    with handle:
        r = _Reader(handle, path)
        magic, version = r.read("ii")
        if magic != FASTTEXT_MAGIC or not 11 <= version <= FASTTEXT_VERSION:
            raise ExportError(f"{path}: not a fastText model file (magic {magic}, version {version})")
        args = dict(zip(_ARGS, r.read("i" * len(_ARGS)), strict=True))
        args["t"] = r.read("d")
        if args["model"] != 3:
            raise ExportError(f"{path}: a {MODEL_NAMES.get(args['model'], '?')} model; only supervised "
                              "(classifier) models can be exported")
        if args["loss"] not in LOSS_NAMES:
            raise ExportError(f"{path}: unknown loss {args['loss']}")
        if version == 11:
            args["maxn"] = 0  # FastText::loadModel: old supervised models had no character n-grams
        size, nwords, nlabels = r.read("iii")
        _ntokens, pruneidx_size = r.read("qq")
        words, labels, label_counts = [], [], []
        for _ in range(size):
            entry = r.cstring()
            count, entry_type = r.read("qb")
            if entry_type == 0:
                words.append(entry)
            else:
                labels.append(entry)
                label_counts.append(count)
        if len(words) != nwords or len(labels) != nlabels or not labels:
            raise ExportError(f"{path}: the dictionary does not match its header (or has no labels)")
        pruneidx: dict[int, int] = {}
        if pruneidx_size > 0:
            pairs = r.array(np.int32, 2 * pruneidx_size).reshape(-1, 2)
            pruneidx = {int(a): int(b) for a, b in pairs}
        quant_input = bool(r.read("?"))
        inp = r.quant_matrix() if quant_input else r.dense()
        qout = bool(r.read("?"))
        out = r.quant_matrix() if quant_input and qout else r.dense()
        if handle.read(1):
            raise ExportError(f"{path}: unexpected bytes after the output matrix")
    return FastTextModel(version, args, words, labels, np.asarray(label_counts, np.int64), pruneidx_size,
                         pruneidx, inp, out)
