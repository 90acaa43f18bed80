"""An mBART `save_pretrained` folder -> the two ONNX graphs batched generation needs.

    encoder.onnx  input_ids, attention_mask          INT64 [batch, src]
                  -> cross_key.{i}, cross_value.{i}  FP32  [batch, heads, src, head_dim]
    decoder.onnx  input_ids, position_ids            INT64 [rows, 1]
                  encoder_attention_mask             INT64 [rows, src]
                  past_key.{i}, past_value.{i}       FP32  [rows, heads, slots, head_dim]
                  cross_key.{i}, cross_value.{i}     FP32  [rows, heads, src, head_dim]
                  top_k                              INT64 [1]
                  -> top_logits [rows, k], top_ids [rows, k] (largest first, ties: lower id)
                     new_key.{i}, new_value.{i} [rows, heads, 1, head_dim]: this token's K/V
                     logits [rows, vocab] (the generator takes each row's log-sum-exp)

Why not optimum-onnx's seq2seq export (it exports this model, and its encoder computes the
same hidden states): its `decoder_with_past` takes no positions and no decoder mask (it
attends to every past slot and derives the position from the past length), so rows at
different steps cannot share a call; `decoder_model_merged` picks first step or later step
with one If-node for the whole batch. Requests that join and leave between steps need:

* the encoder also running every decoder layer's cross-attention k_proj/v_proj, once per
  request (not per beam or step): no first-step special case;
* one decoding step over a caller-owned fixed-slot cache: `position_ids` is the fed token's
  index (learned positions at position + 2, mBART's offset); its K/V go into slot `position`
  (a `Where`, exact) and slots > position are masked, as are source positions whose
  `encoder_attention_mask` is 0. A row's data sits at the same offsets whoever shares the
  call, and zero right-padding on any variable axis is inert;
* the answer cut down: top-k candidates in the graph, and each row's log-sum-exp beside
  them (triton_model.py), instead of 250,027 logits per row (16 MB per step at 16 rows,
  against a few KB).

Both are small wrappers around the HF modules (eager attention: the math HF's eager path
does), exported with `torch.onnx.export(dynamo=False)`, as optimum does.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: set before transformers reads it
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import onnx
import torch
from onnx import TensorProto, helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import nn
from transformers import MBartForConditionalGeneration

from exporters.transformer.int8 import quiet_quantizer

OPSET = 17
MASK_MIN = torch.finfo(torch.float32).min  # HF's additive mask value
SUPPORTED = ("mbart",)


@dataclass(frozen=True)
class Spec:
    """The shapes every caller of the graphs needs."""

    layers: int
    heads: int
    head_dim: int
    d_model: int
    vocab_size: int
    max_positions: int

    @classmethod
    def from_config(cls, config) -> "Spec":
        heads = config.decoder_attention_heads
        return cls(config.decoder_layers, heads, config.d_model // heads, config.d_model, config.vocab_size,
                   config.max_position_embeddings)


class EncoderWithCrossKV(nn.Module):
    """HF encoder + each decoder layer's cross-attention K/V projections."""

    def __init__(self, model: MBartForConditionalGeneration) -> None:
        super().__init__()
        self.encoder = model.get_encoder()
        self.layers = model.get_decoder().layers
        self.heads = model.config.decoder_attention_heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        batch, src, d_model = hidden.shape
        outputs = []
        for layer in self.layers:
            for proj in (layer.encoder_attn.k_proj, layer.encoder_attn.v_proj):
                outputs.append(proj(hidden).view(batch, src, self.heads, d_model // self.heads).transpose(1, 2))
        return tuple(outputs)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scaling: float) -> torch.Tensor:
    """HF's eager attention: softmax(q k^T * scaling + additive mask) v."""
    weights = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * scaling + mask, dim=-1)
    return torch.matmul(weights, v)


class DecoderStep(nn.Module):
    """One step of MBartDecoder over a fixed-slot cache the caller owns.

    Re-implements MBartDecoder / MBartDecoderLayer.forward for one token (pre-norm layers,
    scaled word embedding, learned positions with offset 2, layernorm_embedding, final
    layer_norm, tied lm_head + final_logits_bias) so that positions and masks are inputs;
    the parity check compares it with the HF model's generate()."""

    def __init__(self, model: MBartForConditionalGeneration) -> None:
        super().__init__()
        self.decoder = model.get_decoder()
        self.lm_head = model.lm_head
        self.register_buffer("final_logits_bias", model.final_logits_bias.clone(), persistent=False)
        self.heads = model.config.decoder_attention_heads
        self.head_dim = model.config.d_model // self.heads
        self.offset = self.decoder.embed_positions.offset  # 2 for mBART

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, d] -> [B, H, 1, D]
        return x.view(x.shape[0], 1, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, input_ids, position_ids, encoder_attention_mask, *cache):
        layers = self.decoder.layers
        past, cross = cache[: 2 * len(layers)], cache[2 * len(layers):]
        batch = input_ids.shape[0]
        slots = torch.arange(past[0].shape[2], device=input_ids.device)[None, :]  # [1, T]
        is_new = (slots == position_ids)[:, None, :, None]  # [B, 1, T, 1]
        self_mask = torch.where(slots <= position_ids, 0.0, MASK_MIN)[:, None, None, :]  # [B, 1, 1, T]
        cross_mask = (1.0 - encoder_attention_mask[:, None, None, :].to(torch.float32)) * MASK_MIN

        positions = nn.functional.embedding(position_ids + self.offset, self.decoder.embed_positions.weight)
        hidden = self.decoder.layernorm_embedding(self.decoder.embed_tokens(input_ids) + positions)
        new_kv = []
        for i, layer in enumerate(layers):
            attn = layer.self_attn
            x = layer.self_attn_layer_norm(hidden)
            k_new, v_new = self._split(attn.k_proj(x)), self._split(attn.v_proj(x))
            keys = torch.where(is_new, k_new, past[2 * i])
            values = torch.where(is_new, v_new, past[2 * i + 1])
            out = _attend(self._split(attn.q_proj(x)), keys, values, self_mask, attn.scaling)
            hidden = hidden + attn.out_proj(out.transpose(1, 2).reshape(batch, 1, -1))
            new_kv += [k_new, v_new]

            attn = layer.encoder_attn
            x = layer.encoder_attn_layer_norm(hidden)
            out = _attend(self._split(attn.q_proj(x)), cross[2 * i], cross[2 * i + 1], cross_mask, attn.scaling)
            hidden = hidden + attn.out_proj(out.transpose(1, 2).reshape(batch, 1, -1))

            x = layer.final_layer_norm(hidden)
            hidden = hidden + layer.fc2(layer.activation_fn(layer.fc1(x)))
        hidden = self.decoder.layer_norm(hidden).reshape(batch, -1)
        # 2-D input with a bias: exported as Gemm(transB=1) on the embedding initializer
        # itself; MatMul(Transpose(W)) would be constant-folded into a second 1 GB copy.
        logits = nn.functional.linear(hidden, self.lm_head.weight, self.final_logits_bias[0])
        return (logits, *new_kv)


def kv_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kv}.{i}" for i in range(layers) for kv in ("key", "value")]


ENCODER_INPUTS = ["input_ids", "attention_mask"]


def load_model(folder: Path) -> MBartForConditionalGeneration:
    """Eager attention: plain MatMul/Softmax in the graph, the math HF's eager path does."""
    return MBartForConditionalGeneration.from_pretrained(folder, attn_implementation="eager",
                                                         local_files_only=True).eval()


def _save(graph: onnx.ModelProto, path: Path, large: bool) -> None:
    """Weights beside the graph past protobuf's 2 GiB limit (Triton serves the folder)."""
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    if large:
        onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)
        data.chmod(0o644)  # onnx writes it 0600; Triton may run as another user
    else:
        onnx.save_model(graph, str(path))


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]]) -> onnx.ModelProto:
    """Exported into a folder of its own (a graph over 2 GiB comes out as one file per
    tensor), loaded back whole. The wrapper is put in eval mode first: the exporter restores
    the wrapper's mode afterwards, recursively, and a fresh nn.Module is in training mode
    (the HF model would be left with dropout on)."""
    module.eval()
    with tempfile.TemporaryDirectory(prefix="lwt-seq2seq-", dir=path.parent) as work:
        target = Path(work) / "graph.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # HF's mask helpers; the graph is checked after
            torch.onnx.export(module, args, str(target), input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True, dynamo=False)
        return onnx.load(str(target))


def _add_selection_head(graph: onnx.ModelProto) -> onnx.ModelProto:
    """top-k of the logits (largest first, ties: lower id), so a step answers a few
    candidates per row. `logits` stays an output: the generator takes each row's
    log-sum-exp from it in numpy (triton_model.py says why)."""
    graph.graph.node.append(
        helper.make_node("TopK", ["logits", "top_k"], ["top_logits", "top_ids"], axis=-1, largest=1, sorted=1))
    graph.graph.input.append(helper.make_tensor_value_info("top_k", TensorProto.INT64, [1]))
    logits = next(o for o in graph.graph.output if o.name == "logits")
    outputs = [helper.make_tensor_value_info("top_logits", TensorProto.FLOAT, ["rows", "k"]),
               helper.make_tensor_value_info("top_ids", TensorProto.INT64, ["rows", "k"])]
    rest = [o for o in graph.graph.output if o.name != "logits"]
    del graph.graph.output[:]
    graph.graph.output.extend(outputs + rest + [logits])
    return graph


def export_graphs(model: MBartForConditionalGeneration, encoder_path: Path, decoder_path: Path) -> Spec:
    """The encoder and decoder-step graphs (with `<file>.data` beside them when large)."""
    if model.config.model_type not in SUPPORTED:
        raise ValueError(f"model type {model.config.model_type!r} is not supported (only {', '.join(SUPPORTED)})")
    spec = Spec.from_config(model.config)
    large = sum(p.numel() for p in model.parameters()) * 4 > 1.5 * 2**30  # protobuf's 2 GiB limit
    ids = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 1]])
    mask = (ids != 1).long()

    cross = kv_names("cross", spec.layers)
    graph = _export(EncoderWithCrossKV(model), (ids, mask), encoder_path, ENCODER_INPUTS, cross,
                    {**{n: {0: "batch", 1: "src"} for n in ENCODER_INPUTS}, **{n: {0: "batch", 2: "src"} for n in cross}})
    _save(graph, encoder_path, large)

    batch, slots = 2, 3
    past = [torch.zeros(batch, spec.heads, slots, spec.head_dim) for _ in range(2 * spec.layers)]
    kv = [torch.randn(batch, spec.heads, ids.shape[1], spec.head_dim) for _ in range(2 * spec.layers)]
    inputs = ["input_ids", "position_ids", "encoder_attention_mask", *kv_names("past", spec.layers), *cross]
    outputs = ["logits", *kv_names("new", spec.layers)]
    dynamic = {"input_ids": {0: "rows"}, "position_ids": {0: "rows"},
               "encoder_attention_mask": {0: "rows", 1: "src"}, "logits": {0: "rows"}}
    dynamic.update({n: {0: "rows", 2: "slots"} for n in kv_names("past", spec.layers)})
    dynamic.update({n: {0: "rows", 2: "src"} for n in cross})
    dynamic.update({n: {0: "rows"} for n in kv_names("new", spec.layers)})
    graph = _export(DecoderStep(model), (torch.tensor([[5], [6]]), torch.tensor([[0], [1]]), mask, *past, *kv),
                    decoder_path, inputs, outputs, dynamic)
    _save(_add_selection_head(graph), decoder_path, large)
    return spec


def quantize(source: Path, target: Path) -> None:
    """int8 dynamic quantisation (weights int8, activations quantised per call); `target`
    may be `source` (replaced)."""
    large = source.with_name(source.name + ".data").exists()
    with tempfile.TemporaryDirectory(prefix="lwt-int8-", dir=target.parent) as work:
        staged = Path(work) / target.name
        with quiet_quantizer():
            quantize_dynamic(str(source), str(staged), weight_type=QuantType.QInt8, use_external_data_format=large)
        graph = onnx.load(str(staged))
    source.with_name(source.name + ".data").unlink(missing_ok=True)
    _save(graph, target, large)
