"""The generator entry's `model.py` (Triton's Python backend): decoder caches kept in Triton.

The exporter copies this file into `<name>/<version>/model.py`, beside `decoder.onnx`; it
imports only numpy, onnxruntime and Triton's `triton_python_backend_utils`, so the entry is
a standard Python-backend entry (a production Triton needs onnxruntime in the Python
environment its stub runs: an EXECUTION_ENV_PATH or a custom image).

Why the caches live here: a decoding step needs every row's past keys/values (3 MB per row
for mBART-large at 32 positions) and cross-attention keys/values (12.6 MB per row at 128
source positions); sent with each request that is 30-240 MB per step. Kept here, a step
carries a few integers per row and answers k candidates per row. The caller (the
article-descriptions service) keeps the beams and the search, and batches the steps of all
its requests into one call.

Three operations, told apart by which inputs a request has (all inputs are optional):
* admit:   input_ids, attention_mask [n, src] (right-padded), beams [n]
           -> handle [n]. Encodes the sources once, with the encoder entry (a BLS call:
           `parameters.encoder_model`), and gives each request `beams` rows whose
           cross-attention keys/values are that encoding.
* step:    handle, beam, parent, token, position [rows], top_k [1] (optional release [m])
           -> top_ids, top_logits [rows, k], logsumexp [rows]. Each request's rows first
           take the caches of their `parent` rows (beam reordering), then one decoder call
           for all rows; each row's new key/value goes to slot `position`.
* release: release [m] alone: frees those handles' rows.
Every answer also carries active_rows [1]: the rows in use after the request.

Layout: rows in use are kept contiguous at the front of preallocated arrays (a leaving
request's rows are filled by moving later rows up), so a step that covers every row in use
feeds views, not copies; a step covering some rows (two callers) gathers them. Attended axes
are presented at multiples of BLOCK (32): onnxruntime's CPU kernels were seen to give
bitwise-different results for N real keys unpadded when N % 4 == 3, against the same keys
padded by masked zeros, so a request's answers are bitwise the same alone or with any
batch-mates (README). Handles idle longer than `idle_seconds` are released (a caller that
died cannot hold rows for ever).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import onnxruntime as ort

try:  # only inside Triton's Python backend; the exporter's parity check runs the core without it
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

BLOCK = 32
STEP_INPUTS = ("handle", "beam", "parent", "token", "position")
OUTPUTS = ("handle", "top_ids", "top_logits", "logsumexp", "active_rows")
Encode = Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]]


class RequestError(ValueError):
    """A problem with one request: answered to it alone, the state unchanged."""


def padded(length: int, block: int = BLOCK) -> int:
    """The canonical length of an attended axis holding `length` real positions."""
    return max(block, -(-length // block) * block)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """Per row, log(sum(exp(logits - max))) in float32, as numpy's log_softmax would take it.

    Here and not in the graph: onnxruntime's ReduceSum splits a row across threads when a
    call has few rows, so its last bit depended on the batch-mates; numpy sums each row on
    its own (pairwise), whatever the other rows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return np.log(np.exp(shifted).sum(axis=-1, dtype=np.float32)).astype(np.float32)


def kv_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kv}.{i}" for i in range(layers) for kv in ("key", "value")]


@dataclass
class _Sequence:
    start: int
    rows: int
    src_len: int
    used: float = field(default_factory=time.monotonic)


class Generator:
    """The decoder state and the three operations, independent of Triton (tested directly)."""

    def __init__(self, decoder: ort.InferenceSession, encode: Encode, max_rows: int, idle_seconds: float = 300.0,
                 block: int = BLOCK, pad_id: int = 1) -> None:
        self.decoder, self.encode = decoder, encode
        self.max_rows, self.idle_seconds, self.block, self.pad_id = max_rows, idle_seconds, block, pad_id
        inputs = {i.name: i for i in decoder.get_inputs()}
        vocab = next(o for o in decoder.get_outputs() if o.name == "logits").shape[-1]
        self.vocab = vocab if isinstance(vocab, int) else 2**31 - 1
        self.layers = sum(1 for n in inputs if n.startswith("past_key."))
        self.heads, self.head_dim = int(inputs["past_key.0"].shape[1]), int(inputs["past_key.0"].shape[3])
        self.past_names, self.cross_names = kv_names("past", self.layers), kv_names("cross", self.layers)
        self.new_names = kv_names("new", self.layers)
        self.sequences: dict[int, _Sequence] = {}
        self.n = 0  # rows in use: [0, n)
        self.src = self.slots = 0
        self.past: dict[str, np.ndarray] = {}
        self.cross: dict[str, np.ndarray] = {}
        self.enc_mask = np.zeros((max_rows, 0), np.int64)
        self._resize(src=0, slots=padded(1, block))

    # --- storage -----------------------------------------------------------------------------
    def _resize(self, src: int, slots: int) -> None:
        """Reallocate for `src` source positions and `slots` decoder positions, keeping rows."""
        n, rows = self.n, self.max_rows
        if slots != self.slots:
            past = {k: np.zeros((rows, self.heads, slots, self.head_dim), np.float32) for k in self.past_names}
            keep = min(slots, self.slots)
            for k in self.past:
                past[k][:n, :, :keep] = self.past[k][:n, :, :keep]
            self.past, self.slots = past, slots
        if src != self.src:
            cross = {k: np.zeros((rows, self.heads, src, self.head_dim), np.float32) for k in self.cross_names}
            mask = np.zeros((rows, src), np.int64)
            keep = min(src, self.src)
            for k in self.cross:
                cross[k][:n, :, :keep] = self.cross[k][:n, :, :keep]
            mask[:n, :keep] = self.enc_mask[:n, :keep]
            self.cross, self.enc_mask, self.src = cross, mask, src

    def _fit_src(self, extra: int = 0) -> None:
        """Grow to the longest source in use (canonical length); shrink when twice too large."""
        longest = max([s.src_len for s in self.sequences.values()] + [extra, 1])
        target = padded(longest, self.block)
        if target > self.src or target * 2 <= self.src:
            self._resize(target, self.slots)

    def _arrays(self) -> list[np.ndarray]:
        return [*self.past.values(), *self.cross.values(), self.enc_mask]

    # --- operations ----------------------------------------------------------------------------
    def admit(self, input_ids: np.ndarray, attention_mask: np.ndarray, beams: np.ndarray) -> np.ndarray:
        self._expire()
        if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape or beams.shape != (input_ids.shape[0],):
            raise RequestError("admit: input_ids and attention_mask must be [n, src] and beams [n]")
        lengths = attention_mask.sum(axis=1)
        cols = np.arange(input_ids.shape[1])[None, :]
        if not np.array_equal(attention_mask != 0, cols < lengths[:, None]) or (lengths < 1).any():
            raise RequestError("admit: attention_mask must be ones then zeros (right padding), at least one token")
        if (beams < 1).any() or self.n + int(beams.sum()) > self.max_rows:
            raise RequestError(f"admit: {int(beams.sum())} rows asked, {self.max_rows - self.n} of "
                               f"{self.max_rows} free")
        width = padded(int(lengths.max()), self.block)
        cols = min(width, input_ids.shape[1])
        ids = np.full((len(lengths), width), self.pad_id, np.int64)
        mask = np.zeros_like(ids)
        mask[:, :cols] = attention_mask[:, :cols] != 0
        ids[:, :cols] = np.where(mask[:, :cols] != 0, input_ids[:, :cols], self.pad_id)
        encoded = self.encode(ids, mask)
        handles = []
        for i, (length, rows) in enumerate(zip(lengths.tolist(), beams.tolist())):
            self._fit_src(length)
            start = self.n
            for k in self.cross_names:
                self.cross[k][start: start + rows] = 0.0
                self.cross[k][start: start + rows, :, :length] = encoded[k][i, :, :length]
            for k in self.past_names:
                self.past[k][start: start + rows] = 0.0
            self.enc_mask[start: start + rows] = 0
            self.enc_mask[start: start + rows, :length] = 1
            self.n += rows
            handle = secrets.randbits(62)
            self.sequences[handle] = _Sequence(start, rows, length)
            handles.append(handle)
        return np.array(handles, np.int64)

    def release(self, handles: np.ndarray) -> None:
        """Free the rows of these handles (unknown ones are ignored: released already)."""
        for handle in handles.tolist():
            seq = self.sequences.pop(int(handle), None)
            if seq is None:
                continue
            end = seq.start + seq.rows
            if end < self.n:
                for arr in self._arrays():
                    arr[seq.start: self.n - seq.rows] = arr[end: self.n]
                for other in self.sequences.values():
                    if other.start > seq.start:
                        other.start -= seq.rows
            self.n -= seq.rows
        self._fit_src()

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [h for h, s in self.sequences.items() if now - s.used > self.idle_seconds]
        if stale:
            self.release(np.array(stale, np.int64))

    def step(self, handle: np.ndarray, beam: np.ndarray, parent: np.ndarray, token: np.ndarray,
             position: np.ndarray, top_k: int, logits: bool = False) -> dict[str, np.ndarray]:
        rows = self._rows(handle, beam, parent, token, position)
        self._reorder(handle, beam, parent)
        if int(position.max()) >= self.slots:
            self._resize(self.src, padded(int(position.max()) + 1, self.block))
        everyone = len(rows) == self.n and np.array_equal(np.sort(rows), np.arange(self.n))
        order = np.empty(self.n, np.int64)
        if everyone:  # the common case: views of the first n rows, answers permuted back
            order[rows] = np.arange(len(rows))
            tokens, positions = token[order], position[order]
            take = slice(0, self.n)
        else:  # some rows only (several callers): gathered copies
            tokens, positions, take = token, position, rows
        feeds = {"input_ids": tokens[:, None].astype(np.int64), "position_ids": positions[:, None].astype(np.int64),
                 "encoder_attention_mask": self.enc_mask[take],
                 **{k: v[take] for k, v in self.past.items()}, **{k: v[take] for k, v in self.cross.items()},
                 "top_k": np.array([max(1, min(int(top_k), self.vocab))], np.int64)}
        names = ["top_ids", "top_logits", "logits", *self.new_names]
        out = dict(zip(names, self.decoder.run(names, feeds)))
        out["logsumexp"] = logsumexp(out["logits"])
        written = np.arange(self.n) if everyone else rows
        for p, new in zip(self.past_names, self.new_names):
            self.past[p][written, :, positions] = out[new][:, :, 0]
        now = time.monotonic()
        for h in set(handle.tolist()):
            self.sequences[h].used = now
        back = rows if everyone else np.arange(len(rows))
        answer = {k: out[k][back] for k in ("top_ids", "top_logits", "logsumexp")}
        if logits:
            answer["logits"] = out["logits"][back]
        return answer

    def _rows(self, handle: np.ndarray, beam: np.ndarray, parent: np.ndarray, token: np.ndarray,
              position: np.ndarray) -> np.ndarray:
        """Physical rows of the request's rows; every handle's beams exactly once."""
        if not (handle.ndim == 1 and handle.shape == beam.shape == parent.shape == token.shape == position.shape):
            raise RequestError("step: handle, beam, parent, token and position must be [rows] each")
        if len(handle) == 0:
            raise RequestError("step: no rows")
        seen: dict[int, list[int]] = {}
        for h, b in zip(handle.tolist(), beam.tolist()):
            seen.setdefault(h, []).append(b)
        for h, beams in seen.items():
            seq = self.sequences.get(h)
            if seq is None:
                raise RequestError(f"step: unknown handle {h} (released, expired, or the generator restarted)")
            if sorted(beams) != list(range(seq.rows)):
                raise RequestError(f"step: handle {h} needs beams 0..{seq.rows - 1} exactly once")
        for h, p in zip(handle.tolist(), parent.tolist()):
            if not 0 <= p < self.sequences[h].rows:
                raise RequestError(f"step: parent {p} out of range for handle {h}")
        if (position < 0).any() or int(position.max()) >= 4096:
            raise RequestError("step: position out of range")
        return np.array([self.sequences[h].start + b for h, b in zip(handle.tolist(), beam.tolist())], np.int64)

    def _reorder(self, handle: np.ndarray, beam: np.ndarray, parent: np.ndarray) -> None:
        """Beam search kept rows `parent` of each request: its rows take their caches."""
        for h, group in itertools.groupby(sorted(zip(handle.tolist(), beam.tolist(), parent.tolist())),
                                          key=lambda t: t[0]):
            order = np.array([p for _, _, p in group], np.int64)  # indexed by beam
            if np.array_equal(order, np.arange(len(order))):
                continue
            start = self.sequences[h].start
            for arr in self.past.values():
                arr[start: start + len(order)] = arr[start: start + len(order)][order]


class OrtEncoder:
    """The encoder graph as a local session (the parity check; Triton uses the encoder entry)."""

    def __init__(self, path: str, threads: int = 0) -> None:
        self.session = ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.outputs, {"input_ids": input_ids, "attention_mask": attention_mask})
        return dict(zip(self.outputs, values))


def session_options(threads: int = 0, inter: int = 0) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = inter
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class TritonPythonModel:
    """Triton's interface around `Generator`; one instance holds the state (count 1)."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        folder = os.path.join(args["model_repository"], args["model_version"])
        providers: list = ["CPUExecutionProvider"]
        if args.get("model_instance_kind") == "GPU":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError("KIND_GPU instance but onnxruntime has no CUDAExecutionProvider")
            providers = [("CUDAExecutionProvider", {"device_id": int(args.get("model_instance_device_id", 0))}),
                         "CPUExecutionProvider"]
        decoder = ort.InferenceSession(os.path.join(folder, params.get("decoder_file", "decoder.onnx")),
                                       session_options(int(params.get("intra_op_thread_count", "0") or 0),
                                                       int(params.get("inter_op_thread_count", "0") or 0)),
                                       providers=providers)
        pairing = os.path.join(folder, "encoder.json")  # the encoder version this version was checked with
        paired: dict = {}
        if os.path.exists(pairing):
            with open(pairing) as handle:
                paired = json.load(handle)
        self.encoder_model = paired.get("model", params.get("encoder_model", ""))
        self.encoder_version = int(paired.get("version", -1))
        self.encoder_batch = int(params.get("encoder_max_batch_size", "8"))
        self.generator = Generator(decoder, self._encode, int(params.get("max_rows", "64")),
                                   float(params.get("idle_seconds", "300")), pad_id=int(params.get("pad_token_id", "1")))

    def _encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder entry, through Triton (BLS), in chunks of its max batch size."""
        parts: list[dict[str, np.ndarray]] = []
        for i in range(0, len(input_ids), self.encoder_batch):
            request = pb_utils.InferenceRequest(
                model_name=self.encoder_model, model_version=self.encoder_version,
                requested_output_names=self.generator.cross_names,
                inputs=[pb_utils.Tensor("input_ids", np.ascontiguousarray(input_ids[i: i + self.encoder_batch])),
                        pb_utils.Tensor("attention_mask",
                                        np.ascontiguousarray(attention_mask[i: i + self.encoder_batch]))])
            response = request.exec()
            if response.has_error():
                raise RuntimeError(f"encoder {self.encoder_model}: {response.error().message()}")
            parts.append({n: pb_utils.get_output_tensor_by_name(response, n).as_numpy()
                          for n in self.generator.cross_names})
        return {n: np.concatenate([p[n] for p in parts]) for n in self.generator.cross_names}

    def execute(self, requests: list) -> list:
        return [self._one(request) for request in requests]

    def _one(self, request) -> object:
        got = {name: pb_utils.get_input_tensor_by_name(request, name)
               for name in ("input_ids", "attention_mask", "beams", "release", "top_k", *STEP_INPUTS)}
        arrays = {k: v.as_numpy() for k, v in got.items() if v is not None}
        try:
            outputs: dict[str, np.ndarray] = {}
            if "release" in arrays:
                self.generator.release(arrays["release"].astype(np.int64).reshape(-1))
            if "input_ids" in arrays:
                if any(k not in arrays for k in ("attention_mask", "beams")):
                    raise RequestError("admit needs input_ids, attention_mask and beams")
                outputs["handle"] = self.generator.admit(arrays["input_ids"].astype(np.int64),
                                                         arrays["attention_mask"].astype(np.int64),
                                                         arrays["beams"].astype(np.int64).reshape(-1))
            elif "token" in arrays:
                missing = [k for k in (*STEP_INPUTS, "top_k") if k not in arrays]
                if missing:
                    raise RequestError(f"step needs {', '.join(missing)}")
                outputs.update(self.generator.step(
                    *(arrays[k].astype(np.int64).reshape(-1) for k in STEP_INPUTS),
                    top_k=int(arrays["top_k"].reshape(-1)[0])))
            elif "release" not in arrays:
                raise RequestError("a request needs input_ids (admit), token (step) or release")
            outputs["active_rows"] = np.array([self.generator.n], np.int64)
            return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, np.ascontiguousarray(v))
                                                              for k, v in outputs.items()])
        except RequestError as exc:
            code = getattr(pb_utils.TritonError, "INVALID_ARG", None)  # 400, not 500: the caller's mistake
            error = pb_utils.TritonError(str(exc), code) if code is not None else pb_utils.TritonError(str(exc))
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        except Exception as exc:  # noqa: BLE001 - a failed model call: this request's error, the server goes on
            return pb_utils.InferenceResponse(output_tensors=[],
                                              error=pb_utils.TritonError(f"generator: {type(exc).__name__}: {exc}"))

    def finalize(self) -> None:
        self.generator = None
