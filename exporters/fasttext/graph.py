"""The ONNX graph: input ids -> what `predict(text, k=-1)` returns for every label.

Contract: input `input_ids` INT64 [batch, seq], padded with -1 (anywhere in a row);
output `probabilities` FP32 [batch, labels] in the model's label order, each value what
fastText reports: `expf(float(log(p + 1e-5)))` for softmax / ova / ns, and the product
of `(p_node + 1e-5)` along the tree path for hierarchical softmax.

Exact, not approximately equal: every sum runs in fastText's float32 order. ONNX Runtime's
ReduceSum and MatMul accumulate in blocks with FMA, which moves results by an ulp, and
one ulp before the one-vs-all lookup-table sigmoid can jump a probability by 0.008; CumSum
is a sequential prefix sum, so its last element is fastText's loop (`_sequential_sum`).
Softmax's normaliser is summed in float in label order too, as fastText does. Quantized
(`.ftz`) input rows stay product-quantization codes in the graph (lid.176: 0.5 MB instead
of 3.2 MB of floats), dequantized by two Gathers, bit-identical to fastText's.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from exporters.contract.fasttext_tokens import PAD_ID
from exporters.fasttext.hs_tree import build_hs_tree
from exporters.fasttext.model_file import KSUB, FastTextModel, QuantMatrix

INPUT, OUTPUT = "input_ids", "probabilities"
OPSET = 17
SIGMOID_TABLE_SIZE = 512
MAX_SIGMOID = 8
STD_LOG_EPS = 1e-5


def sigmoid_table() -> np.ndarray:
    """`Loss::t_sigmoid_`: float(1 / (1 + double(expf(-x)))); expf as float32(exp(double)),
    identical to glibc's on all 513 points (the unrounded exp changes 66 of them)."""
    i = np.arange(SIGMOID_TABLE_SIZE + 1)
    x = (np.float32(i * 2 * MAX_SIGMOID) / np.float32(SIGMOID_TABLE_SIZE) - np.float32(MAX_SIGMOID)).astype(np.float32)
    e = np.exp(-x.astype(np.float64)).astype(np.float32)
    return (1.0 / (1.0 + e.astype(np.float64))).astype(np.float32)


class _Graph:
    """Nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, value: np.ndarray | int | float, base: str = "c", dtype: type = np.int64) -> str:
        name = self.name(base)
        array = value if isinstance(value, np.ndarray) else np.array(value, dtype)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str | None = None, **attrs: object) -> str:
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def f64(self, x: str) -> str:
        return self.op("Cast", [x], to=TensorProto.DOUBLE)

    def f32(self, x: str) -> str:
        return self.op("Cast", [x], to=TensorProto.FLOAT)


def _sequential_sum(g: _Graph, x: str, axis: int) -> str:
    """Sum over `axis` in strict left-to-right float32 order (fastText's `x += ...` loops)."""
    total = g.op("CumSum", [x, g.const(axis)])
    return g.op("Gather", [total, g.const(-1)], axis=axis)


def _embedding_rows(g: _Graph, model: FastTextModel, ids: str, valid: str) -> str:
    """Input-matrix rows of `ids` -> [B, S, dim]; pads (-1) select zero rows."""
    if isinstance(model.input, QuantMatrix):
        qm, pq = model.input, model.input.pq
        flat = pq.centroid_table().reshape(pq.nsubq * KSUB, pq.dsub)
        zero_index = flat.shape[0]
        flat = np.concatenate([flat, np.zeros((1, pq.dsub), np.float32)])
        valid3 = g.op("Unsqueeze", [valid, g.const(np.array([2], np.int64))])
        codes = g.op("Gather", [g.const(qm.codes, "pq_codes"), ids], axis=0)  # [B,S,nsubq] uint8
        codes = g.op("Add", [g.op("Cast", [codes], to=TensorProto.INT64),
                             g.const(np.arange(pq.nsubq, dtype=np.int64) * KSUB, "pq_offsets")])
        codes = g.op("Where", [valid3, codes, g.const(zero_index)])  # pads: the zero centroid
        rows = g.op("Gather", [g.const(flat, "pq_centroids"), codes], axis=0)  # [B,S,nsubq,dsub]
        rows = g.op("Reshape", [rows, g.const(np.array([0, 0, pq.nsubq * pq.dsub], np.int64))])
        if pq.nsubq * pq.dsub != model.dim:  # a narrower last sub-quantizer
            rows = g.op("Slice", [rows, g.const(np.array([0], np.int64)), g.const(np.array([model.dim], np.int64)),
                                  g.const(np.array([2], np.int64))])
        if qm.qnorm and qm.npq is not None and qm.norm_codes is not None:
            norm_table = np.concatenate([qm.npq.centroids[:KSUB], np.zeros(1, np.float32)]).astype(np.float32)
            norm_codes = g.op("Gather", [g.const(qm.norm_codes, "pq_norm_codes"), ids], axis=0)
            norm_codes = g.op("Where", [valid, g.op("Cast", [norm_codes], to=TensorProto.INT64), g.const(KSUB)])
            norms = g.op("Gather", [g.const(norm_table, "pq_norm_centroids"), norm_codes], axis=0)
            # float32(c * norm): fastText's `x[j] += alpha * c[n]` with alpha = norm
            rows = g.op("Mul", [rows, g.op("Unsqueeze", [norms, g.const(np.array([2], np.int64))])])
        return rows
    table = np.concatenate([model.input_dense(), np.zeros((1, model.dim), np.float32)])
    return g.op("Gather", [g.const(table, "input_matrix"), ids], axis=0)


def _output_rows(model: FastTextModel) -> tuple[np.ndarray, np.ndarray | None]:
    """The output matrix as `dotRow` sees it, and a scale applied after the dot product:
    a quantized output's `mulcode` multiplies the finished dot product by the norm."""
    out = model.output
    if isinstance(out, QuantMatrix):
        return out.dequantize(with_norms=False), (out.norms() if out.qnorm else None)
    return out.astype(np.float32), None


def _softmax(g: _Graph, logits: str) -> str:
    """`e_i = float(exp(double(x_i - max)))`, `z += e_i` in float in label order, `e / z`."""
    top = g.op("ReduceMax", [logits], axes=[1], keepdims=1)
    e = g.f32(g.op("Exp", [g.f64(g.op("Sub", [logits, top]))]))
    z = g.op("Unsqueeze", [_sequential_sum(g, e, axis=1), g.const(np.array([1], np.int64))])
    return g.op("Div", [e, z])


def _table_sigmoid(g: _Graph, logits: str) -> str:
    """`Loss::sigmoid`: the table at int((x + 8) * 512 / 8 / 2), 0 below -8, 1 above 8."""
    scaled = g.op("Mul", [g.op("Add", [logits, g.const(MAX_SIGMOID, dtype=np.float32)]),
                          g.const(SIGMOID_TABLE_SIZE / MAX_SIGMOID / 2, dtype=np.float32)])
    index = g.op("Clip", [g.op("Cast", [g.op("Floor", [scaled])], to=TensorProto.INT64), g.const(0),
                          g.const(SIGMOID_TABLE_SIZE)])
    value = g.op("Gather", [g.const(sigmoid_table(), "sigmoid_table"), index], axis=0)
    value = g.op("Where", [g.op("Less", [logits, g.const(-MAX_SIGMOID, dtype=np.float32)]),
                           g.const(0.0, dtype=np.float32), value])
    return g.op("Where", [g.op("Greater", [logits, g.const(MAX_SIGMOID, dtype=np.float32)]),
                          g.const(1.0, dtype=np.float32), value])


def _hierarchical(g: _Graph, model: FastTextModel, logits: str, n_rows: int) -> str:
    """`dfs`: f = float(1 / (1 + expf(-x))) (exact, not the table); the path score adds
    float(log(f + 1e-5)) or float(log(1 - f + 1e-5)) from the root; reported expf(score)."""
    tree = build_hs_tree(model.label_counts)
    ex = g.f32(g.op("Exp", [g.f64(g.op("Neg", [logits]))]))
    f = g.f64(g.f32(g.op("Div", [g.const(1.0, dtype=np.float64),
                                 g.f64(g.op("Add", [g.const(1.0, dtype=np.float32), ex]))])))
    eps = g.const(STD_LOG_EPS, dtype=np.float64)
    log_right = g.f32(g.op("Log", [g.op("Add", [f, eps])]))
    log_left = g.f32(g.op("Log", [g.op("Add", [g.op("Sub", [g.const(1.0, dtype=np.float64), f]), eps])]))
    table = g.op("Concat", [log_left, log_right], axis=1)  # [B, 2 * rows]
    table = g.op("Pad", [table, g.const(np.array([0, 0, 0, 1], np.int64))])  # a zero column pads short paths
    depth = max(1, max(len(p) for p in tree.paths))
    index = np.full((model.nlabels, depth), 2 * n_rows, np.int64)
    for label, (path, code) in enumerate(zip(tree.paths, tree.codes, strict=True)):
        for d, (node, right) in enumerate(zip(path[::-1], code[::-1], strict=True)):  # root first
            index[label, d] = node + (n_rows if right else 0)
    chosen = g.op("Gather", [table, g.const(index.reshape(-1), "hs_path_index")], axis=1)
    chosen = g.op("Reshape", [chosen, g.const(np.array([0, model.nlabels, depth], np.int64))])
    return g.f32(g.op("Exp", [g.f64(_sequential_sum(g, chosen, axis=2))]))


def build_onnx(model: FastTextModel, debug_outputs: bool = False) -> onnx.ModelProto:
    """The graph for `model`; `debug_outputs` adds `hidden` [B, dim] (tests compare it
    with fastText's `get_sentence_vector`) and `logits`."""
    g = _Graph()
    valid = g.op("GreaterOrEqual", [INPUT, g.const(0)], base="valid")
    rows = _embedding_rows(g, model, INPUT, valid)
    total = _sequential_sum(g, rows, axis=1)  # pads add +0.0
    # fastText multiplies by float(1.0 / n), the reciprocal computed in double.
    count = g.op("ReduceSum", [g.op("Cast", [valid], to=TensorProto.INT64), g.const(np.array([1], np.int64))],
                 keepdims=1)
    count = g.op("Max", [count, g.const(1)])  # an all-pad row: hidden 0, never NaN
    inverse = g.f32(g.op("Div", [g.const(1.0, dtype=np.float64), g.f64(count)]))
    hidden = g.op("Mul", [total, inverse], base="hidden")
    weights, post_scale = _output_rows(model)
    products = g.op("Mul", [g.op("Unsqueeze", [hidden, g.const(np.array([1], np.int64))]),
                            g.const(np.ascontiguousarray(weights), "output_matrix")])  # [B, rows, dim]
    logits = _sequential_sum(g, products, axis=2)
    if post_scale is not None:
        logits = g.op("Mul", [logits, g.const(post_scale.astype(np.float32), "output_norms")])

    def reported(p: str) -> str:  # predictLine: expf(std_log(p)) = expf(float(log(double(p) + 1e-5)))
        key = g.f32(g.op("Log", [g.op("Add", [g.f64(p), g.const(STD_LOG_EPS, dtype=np.float64)])]))
        return g.f32(g.op("Exp", [g.f64(key)]))

    heads: dict[str, Callable[[], str]] = {
        "softmax": lambda: reported(_softmax(g, logits)),
        "ova": lambda: reported(_table_sigmoid(g, logits)),
        "ns": lambda: reported(_table_sigmoid(g, logits)),
        "hs": lambda: _hierarchical(g, model, logits, weights.shape[0]),
    }
    g.nodes.append(helper.make_node("Identity", [heads[model.loss]()], [OUTPUT]))
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", model.nlabels])]
    if debug_outputs:
        g.nodes += [helper.make_node("Identity", [hidden], ["hidden"]),
                    helper.make_node("Identity", [logits], ["logits"])]
        outputs += [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", model.dim]),
                    helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", None])]
    graph = helper.make_graph(g.nodes, "fasttext_supervised",
                              [helper.make_tensor_value_info(INPUT, TensorProto.INT64, ["batch", "seq"])],
                              outputs, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="liftwing-triton fasttext exporter")
    proto.ir_version = 8
    helper.set_model_props(proto, {"fasttext.loss": model.loss, "fasttext.pad_id": str(PAD_ID),
                                   "fasttext.labels": json.dumps(model.label_strings(), ensure_ascii=False)})
    onnx.checker.check_model(proto)
    return proto
