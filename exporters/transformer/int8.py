"""int8 for BERT-family ONNX graphs on ONNX Runtime's CPU provider: a few named recipes,
and a picker that keeps the fastest one whose outputs stay within the caller's bounds.

Why recipes rather than one call to `quantize_dynamic`: its defaults (per-tensor int8
weights, embedding Gather quantised too) cost all-MiniLM-L6-v2 a worst cosine of 0.79-0.84
against fp32, while a random-weight BERT-base does not care. Measurements (NOTES.md) show
where the error comes from and what each recipe costs:

* per-tensor weight scales: one scale for a whole 384x1536 matrix whose columns differ
  by 10x. Per-channel (per output column) scales fix most of it, at no speed cost.
* per-tensor *activation* scales: ORT's DynamicQuantizeLinear takes one uint8 range per
  input tensor (the whole padded batch). BERT activations carry a few outlier channels
  (MiniLM: channel 99 ~28 against a median channel max of ~1.6), so the other channels
  get a handful of levels. SmoothQuant (Xiao et al. 2023) divides each input channel by
  s_j and multiplies the matching weight row by s_j: exact in fp32, and it moves the
  range problem from activations (per-tensor) to weights (per-channel, which copes).
  It needs calibration inputs, only to measure per-channel activation maxima.
* what is left sits mostly in the first FFN down-projections (1536->384): keeping the
  first k of them in fp32 buys accuracy; each pair costs MiniLM ~10-15% of its int8 speed.

Static QDQ (fixed activation scales) was far less accurate (worst cosine 0.79-0.84) and no
faster than dynamic; 8-bit MatMulNBits (block-wise weights and activations) was the most
accurate (0.998) but only 1.1-1.4x fp32 on 2 cores and needs the onnx-ir package; fusing
first (Attention -> QAttention) was slower than quantising the plain graph. None is a
recipe here; bench_int8.py still measures them.

Everything runs offline on the CPU; nothing here downloads. Measured on this machine's CPU
(AVX512-VNNI): on a CPU without VNNI ONNX Runtime's int8 kernels can differ, so the check
belongs on the serving hosts' CPU type (README).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from exporters.contract.events import fields

log = logging.getLogger(__name__)

Feeds = Mapping[str, np.ndarray]
GraphKind = Literal["plain", "fused"]


@dataclass(frozen=True)
class Recipe:
    """One way to make an int8 graph. Fields are the knobs that mattered in NOTES.md."""

    name: str
    graph: GraphKind = "plain"  # which fp32 graph it starts from (see quantize_int8)
    per_channel: bool = True  # per output column weight scales: the biggest single fix
    weight_type: Literal["QInt8", "QUInt8"] = "QInt8"  # QUInt8: a little more accurate, ~35% slower (U8U8 kernels)
    op_types: tuple[str, ...] = ("MatMul",)  # not Gather: an int8 embedding table cost MiniLM 0.003-0.005 cosine
    smooth_alpha: float | None = None  # SmoothQuant migration strength; None = no smoothing
    smooth_floor_percentile: float = 50.0  # robustness: channels quiet in calibration are not amplified
    keep_fp32_down_projections: int = 0  # first k FFN down-projections (K > N) stay fp32
    reduce_range: bool = False  # 7-bit weights: only for non-VNNI CPUs that saturate (costs accuracy)
    description: str = ""

    @property
    def needs_calibration(self) -> bool:
        return self.smooth_alpha is not None


# Fastest first, as measured on 2 AVX512-VNNI cores (NOTES.md); pick_int8 keeps this order.
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("dynamic-per-tensor", per_channel=False, op_types=(), description=(
        "today's export: quantize_dynamic defaults (per-tensor weights, Gather too; tiny MatMul heads "
        "kept fp32); smallest file")),
    Recipe("dynamic-per-channel", description="per-channel weights, MatMul only; no calibration"),
    Recipe("smooth-dynamic", smooth_alpha=0.7, description=(
        "SmoothQuant (alpha 0.7, calibrated) + per-channel dynamic int8; same speed as dynamic")),
    Recipe("smooth-dynamic-keep2", smooth_alpha=0.7, keep_fp32_down_projections=2, description=(
        "smooth-dynamic with the first two FFN down-projections in fp32")),
    Recipe("smooth-dynamic-keep4", smooth_alpha=0.7, keep_fp32_down_projections=4, description=(
        "smooth-dynamic with the first four FFN down-projections in fp32")),
    Recipe("smooth-dynamic-u8", smooth_alpha=0.7, weight_type="QUInt8", description=(
        "smooth-dynamic with uint8 weights (U8U8 kernels, slower): on a CPU without VNNI (AVX2 only) the "
        "int8-weight kernels saturate and every recipe above left MiniLM at a worst cosine of 0.95-0.96; "
        "this one 0.995 (AMD EPYC, AVX2)")),
)}
DEFAULT_ORDER: tuple[str, ...] = tuple(RECIPES)


# ---------------------------------------------------------------------------- graph helpers

def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def _weight_nodes(model: onnx.ModelProto, op_types: Iterable[str] = ("MatMul", "Attention")) -> list[onnx.NodeProto]:
    """Nodes whose input 1 is a 2-D constant weight used by that node alone: what int8 touches.

    MatMul B is [K, N]; the fused Attention op's packed QKV weight is [K, 3N]. A weight
    shared by two nodes (tied embeddings) is left alone: rescaling it would change both."""
    inits = _initializers(model)
    uses = Counter(i for n in model.graph.node for i in n.input)
    wanted = set(op_types)
    return [n for n in model.graph.node
            if n.op_type in wanted and len(n.input) > 1 and n.input[1] in inits
            and len(inits[n.input[1]].dims) == 2 and uses[n.input[1]] == 1]


def _down_projections(model: onnx.ModelProto) -> list[str]:
    """FFN down-projections in graph order: MatMul [K, N] with K > N and N the model width.

    Found by shape, not by name, so torch.onnx.export, optimum and distilbert-style names
    all work. The width is the most common N among weight MatMuls (Q, K, V, output, down)."""
    inits = _initializers(model)
    shapes = [(n.name, tuple(inits[n.input[1]].dims)) for n in _weight_nodes(model, ("MatMul",))]
    if not shapes:
        return []
    width = Counter(s[1] for _, s in shapes).most_common(1)[0][0]
    return [name for name, (k, n) in shapes if n == width and k > n]


def _tiny_heads(model: onnx.ModelProto, max_outputs: int = 16) -> list[str]:
    """Weight MatMuls with fewer than `max_outputs` columns (classifier heads): no speed to
    win, and their error lands directly on the logits."""
    inits = _initializers(model)
    return [n.name for n in _weight_nodes(model, ("MatMul",)) if inits[n.input[1]].dims[1] < max_outputs]


def _ensure_names(model: onnx.ModelProto) -> None:
    """nodes_to_exclude works by node name; torch/optimum name every node, but be sure."""
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}_int8"


def _activation_absmax(model: onnx.ModelProto, tensors: set[str],
                       calibration_feeds: Sequence[Feeds]) -> dict[str, np.ndarray]:
    """Per-channel (last axis) max |x| of each named tensor over the calibration feeds.

    Padded positions are included on purpose: they enter ORT's per-tensor dynamic range at
    serving time too, so a smoothing scale that ignores them lets padding become an outlier."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for name in sorted(tensors - known):
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the probed tensors
    with tempfile.TemporaryDirectory(prefix="int8-calib-") as tmp:
        path = Path(tmp) / "probe.onnx"
        onnx.save(probe, str(path), save_as_external_data=probe.ByteSize() > 1_800_000_000)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    result: dict[str, np.ndarray] = {}
    for feeds in calibration_feeds:
        for name, value in zip(names, session.run(None, {k: v for k, v in feeds.items() if k in inputs}), strict=True):
            if name in tensors:
                channel_max = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
                result[name] = np.maximum(result[name], channel_max) if name in result else channel_max
    return result


def smooth(model: onnx.ModelProto, calibration_feeds: Sequence[Feeds], alpha: float,
           floor_percentile: float = 50.0, exclude: Iterable[str] = (),
           op_types: Iterable[str] = ("MatMul", "Attention")) -> int:
    """SmoothQuant, in place: for every tensor feeding weight nodes, insert x * (1/s) and
    scale the weights' rows by s, s_j = max|x_j|^alpha / max|W_j|^(1-alpha).

    fp32 outputs are unchanged (up to rounding). The per-channel activation maxima are
    floored at their `floor_percentile`, so a channel that happened to be quiet on the
    calibration texts is not blown up (and does not become the new outlier) on others.
    Only the nodes named by `op_types` and not in `exclude` are rescaled: they read a new
    tensor, other readers of the same input (residual Adds, fp32 nodes) keep the original.
    Returns how many tensors were smoothed. The extra Muls cost 2-9% of int8 speed (NOTES.md)."""
    excluded = set(exclude)
    inits = _initializers(model)
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in _weight_nodes(model, op_types):
        if node.name not in excluded:
            groups.setdefault(node.input[0], []).append(node)
    if not groups:
        return 0
    absmax = _activation_absmax(model, set(groups), calibration_feeds)
    first_use = {}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            first_use.setdefault(name, index)
    inserts: list[tuple[int, onnx.NodeProto]] = []
    for tensor, nodes in groups.items():
        if tensor not in absmax:
            continue
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in nodes]
        act = absmax[tensor].astype(np.float64)
        act = np.maximum(np.maximum(act, np.percentile(act, floor_percentile)), 1e-5)
        wmax = np.maximum(np.max([np.abs(w).max(axis=1) for w in weights], axis=0).astype(np.float64), 1e-5)
        scale = (act ** alpha / wmax ** (1.0 - alpha)).astype(np.float32)
        inv = numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{tensor}/smooth_inv")
        model.graph.initializer.append(inv)
        smoothed = f"{tensor}/smoothed"
        inserts.append((first_use[tensor], helper.make_node("Mul", [tensor, inv.name], [smoothed],
                                                            name=f"{tensor}/smooth")))
        for node, weight in zip(nodes, weights, strict=True):
            inits[node.input[1]].CopyFrom(numpy_helper.from_array((weight * scale[:, None]).astype(weight.dtype),
                                                                   node.input[1]))
            node.input[0] = smoothed
    # insert each Mul just before the first consumer of its input: keeps topological order
    for index, node in sorted(inserts, key=lambda p: p[0], reverse=True):
        model.graph.node.insert(index, node)
    return len(inserts)


# ---------------------------------------------------------------------------- quantize

@dataclass
class Int8Result:
    recipe: str
    path: str
    seconds: float
    bytes: int
    excluded_nodes: list[str] = field(default_factory=list)
    smoothed_tensors: int = 0


def quantize_int8(source: Path | str, target: Path | str, recipe: Recipe | str,
                  calibration_feeds: Sequence[Feeds] | None = None) -> Int8Result:
    """Write `target`, the int8 version of the fp32 graph `source` following `recipe`.

    `source` must be the graph `recipe.graph` names: "plain" is the exporter's output
    (torch.onnx.export or optimum) *before* onnxruntime.transformers fusions; ORT fuses
    LayerNorm/GELU at session start anyway, and its quantiser cannot type the contrib ops
    of a fused graph without help. "fused" graphs are accepted (unknown tensor types are
    taken as float) so the fused path can be measured, but no default recipe uses it.

    `calibration_feeds` (a few tokenised batches; single texts *and* one padded batch, as
    served) are needed only by smoothing recipes.
    """
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    if recipe.needs_calibration and not calibration_feeds:
        raise ValueError(f"recipe {recipe.name} needs calibration_feeds")
    started = time.perf_counter()
    model = onnx.load(str(source))
    _ensure_names(model)
    exclude = _tiny_heads(model)
    if recipe.keep_fp32_down_projections:
        exclude += _down_projections(model)[:recipe.keep_fp32_down_projections]
    smoothed = 0
    if recipe.smooth_alpha is not None:
        smoothed = smooth(model, calibration_feeds or [], recipe.smooth_alpha, recipe.smooth_floor_percentile,
                          exclude=exclude, op_types=recipe.op_types or ("MatMul", "Attention"))
    large = model.ByteSize() > 1_800_000_000  # protobuf's 2 GB limit, with room for the new nodes
    extra = {"MatMulConstBOnly": True}  # never quantise activation x activation MatMuls (attention scores)
    if recipe.graph == "fused":
        extra["DefaultTensorType"] = onnx.TensorProto.FLOAT  # contrib-op outputs have no inferred type
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        staged = Path(tmp) / "model.onnx"
        onnx.save(model, str(staged), save_as_external_data=large)
        del model
        with quiet_quantizer():
            quantize_dynamic(str(staged), str(target), op_types_to_quantize=list(recipe.op_types) or None,
                             per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
                             weight_type=getattr(QuantType, recipe.weight_type), nodes_to_exclude=exclude,
                             use_external_data_format=large, extra_options=extra)
    return Int8Result(recipe.name, str(target), round(time.perf_counter() - started, 2), Path(target).stat().st_size,
                      exclude, smoothed)


@contextmanager
def quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantizer logs through the root logger: a line per tensor it skips
    (hundreds per model at `lwt`'s default level) and a warning advising
    `quant_pre_process` (not run: the card reports the int8 graph's own accuracy). Keep
    them out of our structured logs while it runs; errors still show."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------------------- compare and pick

@dataclass
class Deviation:
    """How far int8 moved the answers, over every reference batch."""

    max_abs_diff: float
    min_cosine: float
    label_agreement: float | None  # classification only: share of rows whose argmax is unchanged
    rows: int

    def within(self, max_delta: float | None, min_cosine: float | None,
               min_label_agreement: float | None) -> list[str]:
        """The bounds this deviation breaks (empty: it is acceptable)."""
        broken = []
        if max_delta is not None and self.max_abs_diff > max_delta:
            broken.append(f"max |diff| {self.max_abs_diff:.4g} > {max_delta:g}")
        if min_cosine is not None and self.min_cosine < min_cosine:
            broken.append(f"worst cosine {self.min_cosine:.4f} < {min_cosine:g}")
        if min_label_agreement is not None and self.label_agreement is not None \
                and self.label_agreement < min_label_agreement:
            broken.append(f"label agreement {self.label_agreement:.3f} < {min_label_agreement:g}")
        return broken


def deviation(references: Sequence[tuple[Feeds, np.ndarray]], outputs: Sequence[np.ndarray],
              labels: bool) -> Deviation:
    """Row-wise worst cosine (the embedding criterion), max |diff| (the logits criterion)
    and, for classifiers, argmax agreement."""
    diffs, cosines, agree, rows = [], [], [], 0
    for (_, ref), out in zip(references, outputs, strict=True):
        a = ref.reshape(ref.shape[0], -1).astype(np.float64)
        b = out.reshape(out.shape[0], -1).astype(np.float64)
        diffs.append(float(np.abs(a - b).max()))
        norms = (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)).clip(min=1e-12)
        cosines.append(float(((a * b).sum(1) / norms).min()))
        if labels:
            agree.append(int((a.argmax(1) == b.argmax(1)).sum()))
        rows += a.shape[0]
    return Deviation(max(diffs), min(cosines), (sum(agree) / rows) if labels else None, rows)


def run_graph(path: Path | str, batches: Sequence[Feeds], threads: int = 0) -> list[np.ndarray]:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return [session.run(None, {k: v for k, v in b.items() if k in wanted})[0] for b in batches]


@dataclass
class Attempt:
    recipe: str
    deviation: dict | None
    seconds: float
    bytes: int | None
    rejected: list[str]


@dataclass
class Picked:
    recipe: str
    path: str
    deviation: Deviation
    attempts: list[Attempt]  # every recipe tried, in order, with why it was rejected (for the model card)

    def as_dict(self) -> dict:
        return {"recipe": self.recipe, "deviation": asdict(self.deviation),
                "attempts": [asdict(a) for a in self.attempts]}


def pick_int8(candidates: Mapping[GraphKind, Path | str], reference_outputs: Sequence[tuple[Feeds, np.ndarray]],
              max_delta: float | None, min_cosine: float | None, target: Path | str, *,
              calibration_feeds: Sequence[Feeds] | None = None, labels: bool = False,
              min_label_agreement: float | None = None, order: Sequence[str] = DEFAULT_ORDER,
              recipes: Mapping[str, Recipe] = RECIPES) -> tuple[Picked | None, list[Attempt]]:
    """Try recipes fastest-first; keep the first whose outputs meet the bounds.

    candidates: the fp32 graphs by kind ({"plain": raw.onnx, "fused": fp32.onnx}); a
    recipe whose graph kind is missing is skipped. reference_outputs: (feeds, fp32 or
    PyTorch output) pairs: include single unpadded texts *and* a padded batch, because
    dynamic int8 takes one activation range per batch and padding changes it. The bounds
    are `--max-int8-delta` (max |diff|) and `--min-cosine` (worst row cosine); None skips
    one. A recipe without calibration feeds is skipped if it needs them.

    Returns (picked or None, attempts). None means no recipe met the bounds: the caller
    should refuse (as `--max-int8-delta` does today) and report the attempts.
    """
    attempts: list[Attempt] = []
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="int8-pick-", dir=target.parent) as tmp:
        for name in order:
            recipe = recipes[name]
            source = candidates.get(recipe.graph)
            if source is None:
                attempts.append(Attempt(name, None, 0.0, None, [f"no {recipe.graph} graph"]))
                continue
            if recipe.needs_calibration and not calibration_feeds:
                attempts.append(Attempt(name, None, 0.0, None, ["needs calibration feeds"]))
                continue
            out = Path(tmp) / f"{name}.onnx"
            try:
                result = quantize_int8(source, out, recipe, calibration_feeds)
            except Exception as exc:  # noqa: BLE001 - a failing recipe is one rejected candidate
                attempts.append(Attempt(name, None, 0.0, None, [f"failed: {str(exc).splitlines()[0][:160]}"]))
                continue
            dev = deviation(reference_outputs, run_graph(out, [f for f, _ in reference_outputs]), labels)
            broken = dev.within(max_delta, min_cosine, min_label_agreement)
            attempts.append(Attempt(name, asdict(dev), result.seconds, result.bytes, broken))
            log.info("int8 recipe", extra=fields(recipe=name, verdict="; ".join(broken) or "accepted"))
            if not broken:
                # graphs over 2 GB would also carry an external-data file: not handled here (none so far)
                shutil.move(str(out), target)
                return Picked(name, str(target), dev, attempts), attempts
    return None, attempts
