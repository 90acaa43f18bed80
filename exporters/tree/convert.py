"""Estimator -> ONNX, one converter per family, registered by kind.

Every converted graph is normalised to the same contract: one FP32 input `input`
`[batch, n_features]` and one FP32 output `probabilities` `[batch, n_outputs]` (zipmap
off). Multi-label models (one binary estimator per label, as revscoring keeps them) are
composed into one graph that concatenates each label's positive-class column.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose, helper
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType as MLToolsFloat
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType as SklFloat
from sklearn.pipeline import Pipeline

from exporters.contract.errors import ExportError
from exporters.tree.loading import LoadedModel, positive_index

INPUT = "input"
OUTPUT = "probabilities"
OPSET = 17
ML_TOOLS_OPSET = 15  # the highest opset onnxmltools 1.16 converts to

Converter = Callable[[Any, int, Any], onnx.ModelProto]
CONVERTERS: dict[str, Converter] = {}


def register(kind: str) -> Callable[[Converter], Converter]:
    def wrap(fn: Converter) -> Converter:
        CONVERTERS[kind] = fn
        return fn

    return wrap


def _initial_types(n_features: int, library: str = "skl2onnx") -> list:
    """skl2onnx and onnxmltools each insist on their own FloatTensorType class."""
    if library == "onnxmltools":
        return [(INPUT, MLToolsFloat([None, n_features]))]
    return [(INPUT, SklFloat([None, n_features]))]


@register("sklearn")
def _sklearn(estimator: Any, n_features: int, scaler: Any) -> onnx.ModelProto:
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if scaler is not None:
        estimator = Pipeline([("scaler", scaler), ("estimator", estimator)])
    return convert_sklearn(
        estimator,
        initial_types=_initial_types(n_features),
        options={id(final): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )


@register("xgboost")
def _xgboost(estimator: Any, n_features: int, scaler: Any) -> onnx.ModelProto:
    _no_scaler(scaler, "xgboost")
    # onnxmltools reads classes from the Booster's own config; XGBClassifier's sklearn
    # wrapper of xgboost 3.x is not recognised by its shape calculators.
    booster = estimator.get_booster() if hasattr(estimator, "get_booster") else getattr(estimator, "native", estimator)
    if booster.feature_names:  # onnxmltools reads splits as f<index> only: convert a copy without names
        booster = booster.copy()
        booster.feature_names = None
    return convert_xgboost(booster,
                           initial_types=_initial_types(n_features, "onnxmltools"), target_opset=ML_TOOLS_OPSET)


@register("lightgbm")
def _lightgbm(estimator: Any, n_features: int, scaler: Any) -> onnx.ModelProto:
    _no_scaler(scaler, "lightgbm")
    return convert_lightgbm(getattr(estimator, "native", estimator),
                            initial_types=_initial_types(n_features, "onnxmltools"), target_opset=ML_TOOLS_OPSET, zipmap=False)


def _no_scaler(scaler: Any, kind: str) -> None:
    if scaler is not None:
        raise ExportError(f"a feature scaler in front of a {kind} model is not supported")


def family_of(estimator: Any) -> str:
    module = type(getattr(estimator, "native", estimator)).__module__
    for family in ("xgboost", "lightgbm"):
        if module.startswith(family):
            return family
    return "sklearn"


def _convert_part(estimator: Any, n_features: int, scaler: Any) -> onnx.ModelProto:
    try:
        return CONVERTERS[family_of(estimator)](estimator, n_features, scaler)
    except ExportError:
        raise
    except Exception as exc:  # converters raise many types for "unsupported"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"cannot convert {type(estimator).__name__} to ONNX: {message}") from exc


def _probability_output(model: onnx.ModelProto) -> str:
    names = [o.name for o in model.graph.output]
    for name in names:
        if "prob" in name:
            return name
    raise ExportError(f"converted graph has no probability output (outputs: {names})")


def to_onnx(model: LoadedModel) -> onnx.ModelProto:
    """The whole model as one graph with the `input` -> `probabilities` contract."""
    scaler = getattr(model.preprocess, "__self__", None)
    graphs = [_convert_part(part, model.n_features, scaler) for part in model.parts]
    if not model.multilabel:
        return _rename_output(graphs[0], _probability_output(graphs[0]))
    return _compose_multilabel(graphs, [positive_index(p) for p in model.parts])


def _rename_output(model: onnx.ModelProto, current: str) -> onnx.ModelProto:
    if current != OUTPUT:
        for node in model.graph.node:
            node.output[:] = [OUTPUT if o == current else o for o in node.output]
        for output in model.graph.output:
            if output.name == current:
                output.name = OUTPUT
    return model


def _compose_multilabel(graphs: list[onnx.ModelProto], positives: list[int]) -> onnx.ModelProto:
    nodes, initializers, columns = [], [], []
    opsets: dict[str, int] = {}
    for i, (graph, positive) in enumerate(zip(graphs, positives)):
        prefixed = compose.add_prefix(graph, f"l{i}_", rename_inputs=False)
        nodes.extend(prefixed.graph.node)
        initializers.extend(prefixed.graph.initializer)
        for opset in prefixed.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        proba = f"l{i}_" + _probability_output(graph)
        index = helper.make_tensor(f"l{i}_positive", onnx.TensorProto.INT64, [1], [positive])
        initializers.append(index)
        columns.append(f"l{i}_column")
        nodes.append(helper.make_node("Gather", [proba, index.name], [columns[-1]], axis=1))
    nodes.append(helper.make_node("Concat", columns, [OUTPUT], axis=1))
    graph = helper.make_graph(
        nodes, "multilabel", [graphs[0].graph.input[0]],
        [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [None, len(graphs)])],
        initializer=initializers,
    )
    combined = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    combined.ir_version = graphs[0].ir_version
    onnx.checker.check_model(combined)
    return combined


def run_onnx(model_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """The exported graph's answer, with the same onnxruntime the backend uses."""
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: np.asarray(X, dtype=np.float32)})[0]
