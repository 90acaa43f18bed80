"""The shared half of our Python-based Triton backends (`onnxruntime`, `pytorch`).

The bundled Triton binary has only the Python backend, so these backends stand in for
the native ONNX Runtime and PyTorch backends. They read the same standard repository
entry (`config.pbtxt` + `<version>/model.onnx` or `model.pt`) so the folder we serve
here is the folder a production Triton container serves unchanged.

A backend subclasses `BatchedModel` and implements `load` and `run`; this module does
what every backend must: honour the model config, merge the requests of one `execute`
call into one batch (padding variable-length dims to the longest), split the answer
back, and give a bad request its own error without failing the others.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import triton_python_backend_utils as pb_utils

# Triton config data types -> numpy, the same table as the native backends use.
_NUMPY_TYPES = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the model config (dims exclude the batch dim)."""

    name: str
    dtype: Any
    dims: tuple[int, ...]

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> "TensorSpec":
        dims = entry.get("reshape", {}).get("shape", entry["dims"])
        return cls(entry["name"], _NUMPY_TYPES[entry["data_type"]], tuple(int(d) for d in dims))


class RequestError(ValueError):
    """A problem with one request: reported to that request only."""


def model_parameters(config: Mapping[str, Any]) -> dict[str, str]:
    """`parameters { key: ... value { string_value: ... } }` as a plain dict."""
    return {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}


def model_file(args: Mapping[str, str], config: Mapping[str, Any], default: str) -> str:
    """Path of `<repository>/<version>/<default_model_filename>`, as Triton resolves it."""
    name = config.get("default_model_filename") or default
    return os.path.join(args["model_repository"], args["model_version"], name)


def pad_to(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Zero-pad trailing dims up to `shape`: a zero attention mask makes padding inert."""
    widths = [(0, want - have) for have, want in zip(array.shape, shape)]
    if not any(after for _, after in widths):
        return array
    return np.pad(array, widths, mode="constant", constant_values=0)


class BatchedModel:
    """Base `TritonPythonModel`: config handling, batching and error isolation."""

    default_filename = ""

    # --- to implement -------------------------------------------------------------
    def load(self, path: str, parameters: dict[str, str], gpu: bool, device_id: int) -> None:
        raise NotImplementedError

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # --- Triton's interface -----------------------------------------------------
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.model_name = config["name"]
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.max_batch_size = int(config.get("max_batch_size", 0))
        self.inputs = [TensorSpec.from_config(e) for e in config["input"]]
        self.outputs = [TensorSpec.from_config(e) for e in config["output"]]
        gpu = args.get("model_instance_kind") == "GPU"
        self.load(
            model_file(args, config, self.default_filename),
            model_parameters(config),
            gpu,
            int(args.get("model_instance_device_id", 0) or 0),
        )

    def execute(self, requests: list) -> list:
        parsed: list[dict[str, np.ndarray] | None] = []
        responses: list[Any] = [None] * len(requests)
        for i, request in enumerate(requests):
            try:
                parsed.append(self._read(request))
            except RequestError as exc:
                parsed.append(None)
                responses[i] = _error(str(exc))
        good = [i for i, p in enumerate(parsed) if p is not None]
        if good:
            try:
                results = self._run_batch([parsed[i] for i in good])
            except Exception:  # one bad request must not fail the batch: isolate it
                results = [self._run_one(parsed[i]) for i in good]
            for i, result in zip(good, results):
                responses[i] = result
        return responses

    def finalize(self) -> None:
        self.session = None

    # --- internals -----------------------------------------------------------------
    def _read(self, request: Any) -> dict[str, np.ndarray]:
        feeds: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, spec.name)
            if tensor is None:
                raise RequestError(f"{self.model_name}: missing input '{spec.name}'")
            array = tensor.as_numpy()
            if array.dtype != spec.dtype:
                raise RequestError(
                    f"{self.model_name}: input '{spec.name}' has type {array.dtype}, "
                    f"expected {np.dtype(spec.dtype)}"
                )
            body = array.shape[1:] if self.batched else array.shape
            if len(body) != len(spec.dims) or any(
                want not in (-1, have) for have, want in zip(body, spec.dims)
            ):
                raise RequestError(
                    f"{self.model_name}: input '{spec.name}' has shape {list(array.shape)}, "
                    f"expected {['batch', *spec.dims] if self.batched else list(spec.dims)}"
                )
            feeds[spec.name] = array
        sizes = {a.shape[0] for a in feeds.values()} if self.batched else {1}
        if len(sizes) != 1:
            raise RequestError(f"{self.model_name}: inputs disagree on the batch size")
        return feeds

    def _run_batch(self, batch: list[dict[str, np.ndarray]]) -> list[Any]:
        if not self.batched:  # without a batch dim requests cannot be merged
            return [self._run_one(b) for b in batch]
        feeds = {}
        for spec in self.inputs:
            arrays = [b[spec.name] for b in batch]
            longest = np.max([a.shape for a in arrays], axis=0)
            feeds[spec.name] = np.concatenate([pad_to(a, (a.shape[0], *longest[1:])) for a in arrays])
        merged = self.run(feeds, self._output_names())
        responses, start = [], 0
        for b in batch:
            rows = next(iter(b.values())).shape[0]
            part = {name: value[start : start + rows] for name, value in merged.items()}
            responses.append(self._respond(self._trim(part, b), b))
            start += rows
        return responses

    def _run_one(self, feeds: dict[str, np.ndarray]) -> Any:
        try:
            return self._respond(self.run(feeds, self._output_names()), feeds)
        except Exception as exc:  # noqa: BLE001 - reported to the client as Triton's error
            return _error(f"{self.model_name}: inference failed: {exc}")

    def _trim(self, outputs: dict[str, np.ndarray], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Cut padded sequence positions off per-token outputs (e.g. last_hidden_state)."""
        lengths = {a.shape[1] for a in feeds.values() if a.ndim > 1}
        if len(lengths) != 1:
            return outputs
        length = lengths.pop()
        trimmed = {}
        for name, value in outputs.items():
            spec = next(s for s in self.outputs if s.name == name)
            if value.ndim > 1 and spec.dims and spec.dims[0] == -1 and value.shape[1] > length:
                value = value[:, :length]
            trimmed[name] = value
        return trimmed

    def _output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    def _respond(self, outputs: dict[str, np.ndarray], feeds: dict[str, np.ndarray]) -> Any:
        tensors = []
        for spec in self.outputs:
            value = np.ascontiguousarray(outputs[spec.name]).astype(spec.dtype, copy=False)
            if not self.batched and value.ndim == len(spec.dims) + 1 and value.shape[0] == 1:
                value = value[0]
            tensors.append(pb_utils.Tensor(spec.name, value))
        return pb_utils.InferenceResponse(output_tensors=tensors)


def _error(message: str) -> Any:
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    error = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)
