"""`config.pbtxt`, built from Triton's own protobuf message and printed with `text_format`.

Never string formatting: `model_config_pb2` ships with tritonclient. Kept apart from
`exporters.repository` because tritonclient's gRPC protos and KServe's share the
`inference` protobuf package and cannot be loaded in one process: the KServe services
read repositories without importing this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc


@dataclass(frozen=True)
class Tensor:
    """An input or output as the config declares it (dims without the batch dim)."""

    name: str
    data_type: str  # e.g. "TYPE_FP32"
    dims: tuple[int, ...]
    label_filename: str = ""
    # Lets the dynamic batcher put requests of different lengths in one batch. Our
    # Python-based backends pad them to the longest; Triton's native backends would
    # need a model built for ragged input, so exporters leave it off by default.
    allow_ragged_batch: bool = False


@dataclass
class EntryConfig:
    """What an exporter knows about a model; turned into a `ModelConfig` message."""

    name: str
    backend: str
    inputs: Sequence[Tensor]
    outputs: Sequence[Tensor]
    max_batch_size: int = 64
    instance_count: int = 1
    gpu: bool = False
    max_queue_delay_microseconds: int = 500
    preferred_batch_sizes: Sequence[int] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    dynamic_batching: bool = True

    def to_message(self) -> mc.ModelConfig:
        config = mc.ModelConfig(name=self.name, backend=self.backend, max_batch_size=self.max_batch_size)
        for spec, target in ((self.inputs, config.input), (self.outputs, config.output)):
            for tensor in spec:
                entry = target.add(name=tensor.name, data_type=mc.DataType.Value(tensor.data_type))
                entry.dims.extend(tensor.dims)
                if tensor.label_filename:
                    entry.label_filename = tensor.label_filename
                if tensor.allow_ragged_batch:
                    entry.allow_ragged_batch = True
        kind = mc.ModelInstanceGroup.KIND_GPU if self.gpu else mc.ModelInstanceGroup.KIND_CPU
        config.instance_group.add(count=self.instance_count, kind=kind)
        if self.max_batch_size > 0 and self.dynamic_batching:
            batching = config.dynamic_batching
            batching.max_queue_delay_microseconds = self.max_queue_delay_microseconds
            batching.preferred_batch_size.extend(
                b for b in self.preferred_batch_sizes if b <= self.max_batch_size
            )
        for key, value in self.parameters.items():
            config.parameters[key].string_value = value
        if self.gpu and self.backend == "onnxruntime":
            # The native ONNX Runtime backend's GPU accelerator setting; ignored on CPU.
            accel = config.optimization.execution_accelerators.gpu_execution_accelerator.add()
            accel.name = "cuda"
        return config


def render_config(entry: EntryConfig) -> str:
    return text_format.MessageToString(entry.to_message())


def read_config(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())
