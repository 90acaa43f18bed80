"""revscoring word-vector features (articletopic, drafttopic) inside the exported graph.

drafttopic's feature lists hold revscoring's word2vec mean of a revision's words:

    words   = mappers.lower_case(wikitext.revision.datasources.words)   # deltas 'word' tokens, 'İ' -> 'i'
    vectors = vectorizers.word2vec(words, vectorize_words)              # kv[w] for known words, repeats kept;
                                                                        # [[0] * dim] when none is known
    mean    = aggregators.mean(vectors, vector=True)                    # statistics.mean per dimension (float64)

one `FeatureVector` the estimator sees as `dim` columns at its position. The export keeps
the estimator's graph unchanged and puts a lookup in front of it:

    word_ids INT64 [batch, -1]  rows of the KeyedVectors, padded with -1
    input    FP32  [batch, n_scalars]  the model's other features, in model order (absent if none)
      -> Gather(table) -> Cast DOUBLE -> masked sum / max(count, 1) -> Cast FLOAT
      -> Concat + Gather: the mean's columns back at the feature's position -> the trees

The mean is summed in float64, as revscoring's `statistics.mean` is exact: a float32 mean
differs in the last bits and could move a value across a split threshold. The service
never needs the vectors: it solves the words datasource (taken from the model's own
feature graph, so whatever the model was trained with) and sends row numbers. The version
folder keeps the vocabulary (`vocab.txt`, line i = the word of row i) and the vectors
(`word_vectors.npy`); the graph holds the same table.
"""

from __future__ import annotations

import functools
import hashlib
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, compose, helper, numpy_helper

from exporters import parity
from exporters.contract.card import Parity, Tensor as CardTensor, WordVectorsInfo
from exporters.contract.errors import ExportError
from exporters.contract.revscoring_features import canonical_feature_name
from exporters.tree.convert import INPUT, OUTPUT
from exporters.tree.loading import LoadedModel

WORD_IDS = "word_ids"
PAD = -1
VOCABULARY = "vocab.txt"
VECTORS = "word_vectors.npy"
FEATURE_ROW = "w2v_features"  # the rebuilt full feature row handed to the trees
OPSET = 17


@dataclass(frozen=True)
class VectorLayout:
    """Where the one word-vector mean of a feature list sits, and what it is made of."""

    feature: Any  # the AggregatorsVector
    words: Any  # the words datasource it averages the vectors of
    keyed_vectors: Any  # the gensim KeyedVectors its vectorizer reads
    index: int  # position in the feature list
    column: int  # first estimator column
    n_columns: int
    scalar_columns: tuple[int, ...]

    @property
    def dim(self) -> int:
        return int(self.keyed_vectors.vector_size)

    @property
    def n_scalars(self) -> int:
        return len(self.scalar_columns)

    @property
    def table(self) -> np.ndarray:
        return np.ascontiguousarray(self.keyed_vectors.vectors, dtype=np.float32)

    def solve_list(self, features: Sequence[Any]) -> list[Any]:
        """What the service solves: the model's features, the words datasource in the mean's place."""
        return [self.words if i == self.index else f for i, f in enumerate(features)]

    def card_inputs(self) -> list[CardTensor]:
        tensors = [CardTensor(name=WORD_IDS, datatype="INT64", shape=[-1, -1])]
        if self.n_scalars:
            tensors.append(CardTensor(name=INPUT, datatype="FP32", shape=[-1, self.n_scalars]))
        return tensors

    def info(self) -> WordVectorsInfo:
        return WordVectorsInfo(feature=canonical_feature_name(str(self.feature)), feature_index=self.index,
                               column=self.column, dim=self.dim, words=canonical_feature_name(str(self.words)),
                               vocabulary_file=VOCABULARY, vectors_file=VECTORS,
                               vocabulary_size=int(self.table.shape[0]),
                               vectors_sha256=hashlib.sha256(self.table.tobytes()).hexdigest())


def _is(obj: Any, module: str, name: str) -> bool:
    """An instance of revscoring's `module.name`, by class: a model file that holds revscoring
    features has imported revscoring already, and other exports need not (nor gensim, which
    revscoring's vectorizers import: seconds)."""
    return any(c.__name__ == name and c.__module__ == module for c in type(obj).__mro__)


def _is_vector(feature: Any) -> bool:
    return _is(feature, "revscoring.features.feature_vector", "FeatureVector")


def is_word_vector_mean(feature: Any) -> bool:
    """revscoring's `aggregators.mean(vectorizers.word2vec(...), vector=True)`."""
    return (_is(feature, "revscoring.features.meta.aggregators", "AggregatorsVector")
            and feature.func is statistics.mean and len(feature.dependencies) == 1
            and _is(feature.dependencies[0], "revscoring.datasources.meta.vectorizers", "word2vec"))


def _is_keyed_vectors(obj: Any) -> bool:
    """gensim's KeyedVectors, by shape (gensim takes seconds to import and is not needed here)."""
    return all(hasattr(obj, a) for a in ("vectors", "index_to_key", "key_to_index", "vector_size"))


def keyed_vectors_of(vectorizer: Any) -> Any:
    """The KeyedVectors a `word2vec` datasource's `vectorize_words` reads: an attribute of a
    callable object (`.keyed_vectors`, loaded on demand), an argument of a partial, a closure
    cell, or a module global the function names (drafttopic: `enwiki_kvs` beside `vectorize_words`)."""
    fn = vectorizer.process
    found = [getattr(fn, "keyed_vectors", None), *(vars(fn).values() if hasattr(fn, "__dict__") else ())]
    if isinstance(fn, functools.partial):
        found += list(fn.args) + list(fn.keywords.values())
        fn = fn.func
    code = getattr(fn, "__code__", None)
    found += [c.cell_contents for c in getattr(fn, "__closure__", None) or ()]
    found += [getattr(fn, "__globals__", {}).get(n) for n in (code.co_names if code else ())]
    kvs = list({id(v): v for v in found if _is_keyed_vectors(v)}.values())
    if len(kvs) != 1:
        raise ExportError(f"cannot tell which KeyedVectors {vectorizer} reads ({len(kvs)} candidates)")
    return kvs[0]


def layout_of(model: LoadedModel) -> VectorLayout | None:
    """The word-vector layout of a revscoring model, or None when it has no vector feature."""
    if model.revscoring_features is None or not any(_is_vector(f) for f in model.revscoring_features):
        return None
    found, column, scalars = None, 0, []
    for i, feature in enumerate(model.revscoring_features):
        if is_word_vector_mean(feature):
            if found is not None:
                raise ExportError("more than one word-vector feature: one is supported (every drafttopic list has one)")
            vectorizer = feature.dependencies[0]
            kv = keyed_vectors_of(vectorizer)
            found = (feature, vectorizer.dependencies[0], kv, i, column)
            column += int(kv.vector_size)
        elif _is_vector(feature):
            raise ExportError(f"unsupported vector feature {feature}: only word2vec means are computed in the graph")
        else:
            scalars.append(column)
            column += 1
    assert found is not None
    if column != model.n_features:
        # Functions are pickled by reference: the *installed* feature module decides the vectors.
        raise ExportError(f"the feature list makes {column} columns, the estimator takes {model.n_features}: "
                          "the installed vectors are not the ones the model was trained with")
    keys = list(found[2].index_to_key)
    if any(found[2].key_to_index.get(k) != i for i, k in enumerate(keys)):
        raise ExportError("the KeyedVectors' index_to_key and key_to_index disagree: word ids would be wrong")
    bad = [k for k in keys if not isinstance(k, str) or "\n" in k or "\r" in k]
    if bad:
        raise ExportError(f"{len(bad)} vocabulary keys cannot be written one per line, e.g. {bad[0]!r}")
    return VectorLayout(*found, n_columns=column, scalar_columns=tuple(scalars))


# --- the graph -------------------------------------------------------------------------------------

def pooling_graph(layout: VectorLayout) -> onnx.ModelProto:
    """word_ids (+ input) -> the estimator's full FP32 row, named `FEATURE_ROW`."""
    table, dim = layout.table, layout.dim
    inits = [numpy_helper.from_array(table, "w2v_table"),
             numpy_helper.from_array(np.array(0, dtype=np.int64), "w2v_zero"),
             numpy_helper.from_array(np.array(1.0, dtype=np.float64), "w2v_one"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "w2v_axis1"),
             numpy_helper.from_array(np.array([2], dtype=np.int64), "w2v_axis2")]
    nodes = [
        helper.make_node("GreaterOrEqual", [WORD_IDS, "w2v_zero"], ["w2v_known"]),
        helper.make_node("Max", [WORD_IDS, "w2v_zero"], ["w2v_rows_ids"]),
        helper.make_node("Gather", ["w2v_table", "w2v_rows_ids"], ["w2v_rows32"], axis=0),
        helper.make_node("Cast", ["w2v_rows32"], ["w2v_rows64"], to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["w2v_known"], ["w2v_mask"], to=TensorProto.DOUBLE),
        helper.make_node("Unsqueeze", ["w2v_mask", "w2v_axis2"], ["w2v_mask3"]),
        helper.make_node("Mul", ["w2v_rows64", "w2v_mask3"], ["w2v_masked"]),
        helper.make_node("ReduceSum", ["w2v_masked", "w2v_axis1"], ["w2v_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["w2v_mask", "w2v_axis1"], ["w2v_count"], keepdims=1),
        helper.make_node("Max", ["w2v_count", "w2v_one"], ["w2v_denominator"]),
        helper.make_node("Div", ["w2v_sum", "w2v_denominator"], ["w2v_mean64"]),
        helper.make_node("Cast", ["w2v_mean64"], ["w2v_mean"], to=TensorProto.FLOAT),
    ]
    inputs = [helper.make_tensor_value_info(WORD_IDS, TensorProto.INT64, [None, None])]
    if layout.n_scalars:
        inputs.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, layout.n_scalars]))
        # Concat(mean, input) is [dims..., scalars...]: pick its columns in model order.
        order = np.empty(layout.n_columns, dtype=np.int64)
        order[layout.column: layout.column + dim] = np.arange(dim)
        order[list(layout.scalar_columns)] = dim + np.arange(layout.n_scalars)
        inits.append(numpy_helper.from_array(order, "w2v_order"))
        nodes += [helper.make_node("Concat", ["w2v_mean", INPUT], ["w2v_unordered"], axis=1),
                  helper.make_node("Gather", ["w2v_unordered", "w2v_order"], [FEATURE_ROW], axis=1)]
    else:
        nodes.append(helper.make_node("Identity", ["w2v_mean"], [FEATURE_ROW]))
    graph = helper.make_graph(nodes, "word_vector_mean", inputs,
                              [helper.make_tensor_value_info(FEATURE_ROW, TensorProto.FLOAT, [None, layout.n_columns])],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def compose_with_trees(layout: VectorLayout, trees: onnx.ModelProto) -> onnx.ModelProto:
    """The lookup in front of the unchanged tree graph (prefixed so no name can clash); the
    output keeps its name, `probabilities`."""
    pooling = pooling_graph(layout)
    trees = compose.add_prefix(trees, "trees/", rename_inputs=True, rename_outputs=False)
    opsets: dict[str, int] = {}
    for m in (pooling, trees):
        for opset in m.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    for m in (pooling, trees):
        m.ir_version = max(pooling.ir_version, trees.ir_version)
        del m.opset_import[:]
        m.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets.items())
    merged = compose.merge_models(pooling, trees, io_map=[(FEATURE_ROW, "trees/" + INPUT)])
    onnx.checker.check_model(merged)
    return merged


def pad(batch: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    """INT64 [batch, width] padded with -1 (at least one column: no known word is an all-pad
    row, which the graph turns into revscoring's zero vector)."""
    width = max([1, width or 0, *(len(ids) for ids in batch)])
    out = np.full((len(batch), width), PAD, dtype=np.int64)
    for row, ids in enumerate(batch):
        out[row, : len(ids)] = ids
    return out


def run(onnx_bytes: bytes, ids: np.ndarray, scalars: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {WORD_IDS: ids}
    if scalars.shape[1]:
        feeds[INPUT] = scalars.astype(np.float32)
    return session.run([OUTPUT], feeds)[0]


def check_parity(layout: VectorLayout, model: LoadedModel, onnx_bytes: bytes, scalar_rows: np.ndarray,
                 tolerance: float, seed: int = 0) -> Parity:
    """The whole graph from word ids vs revscoring's own vectorizer and mean feeding the
    original estimator: random words of the vocabulary (repeats, none, many) beside
    scalar rows sampled from the split thresholds."""
    rng = np.random.default_rng(seed)
    keys = list(layout.keyed_vectors.index_to_key)
    vectorizer = layout.feature.dependencies[0]
    rows, batch = [], []
    for i, scalars in enumerate(scalar_rows):
        n = 0 if i % 10 == 0 else int(rng.integers(1, 400 if i % 7 == 0 else 60))
        ids = rng.integers(0, len(keys), size=n).tolist()
        mean = layout.feature.process(vectorizer.process([keys[j] for j in ids]))  # revscoring's own
        row = np.empty(layout.n_columns)
        row[list(layout.scalar_columns)] = scalars
        row[layout.column: layout.column + layout.dim] = mean
        rows.append(row)
        batch.append(ids)
    reference = model.probabilities(np.array(rows))
    exported = run(onnx_bytes, pad(batch), np.asarray(scalar_rows, dtype=np.float32))
    return parity.compare(reference, exported, tolerance,
                          f"{len(rows)} word-id rows of the vocabulary with sampled scalar features", model.multilabel)


def scalar_rows(layout: VectorLayout, X: np.ndarray) -> np.ndarray:
    """The scalar columns of full sampled rows."""
    return np.asarray(X[:, list(layout.scalar_columns)], dtype=np.float32)


def write_files(layout: VectorLayout, version_dir: Path) -> None:
    """vocab.txt (one key per line: line i is row i) and the float32 table beside the graph."""
    (version_dir / VOCABULARY).write_text("".join(f"{k}\n" for k in layout.keyed_vectors.index_to_key),
                                          encoding="utf-8")
    np.save(version_dir / VECTORS, layout.table, allow_pickle=False)
