"""Triton backend `onnxruntime`, Python-based: serves `<version>/model.onnx` unchanged.

Honours the native ONNX Runtime backend's model parameters `intra_op_thread_count`,
`inter_op_thread_count` and `enable_mem_arena`; KIND_GPU instances ask for the CUDA
execution provider and fail loudly when this onnxruntime build has none.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from lwt.stack.backends.batching import BatchedModel


class TritonPythonModel(BatchedModel):
    default_filename = "model.onnx"

    def load(self, path: str, parameters: dict[str, str], gpu: bool, device_id: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_thread_count", 0) or 0)
        options.inter_op_num_threads = int(parameters.get("inter_op_thread_count", 0) or 0)
        options.enable_cpu_mem_arena = parameters.get("enable_mem_arena", "1") != "0"
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers: list = ["CPUExecutionProvider"]
        if gpu:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError("KIND_GPU instance but onnxruntime has no CUDAExecutionProvider")
            providers = [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.session_inputs = {i.name for i in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        # Inputs the graph does not take (e.g. token_type_ids) are dropped, as natively.
        feeds = {k: v for k, v in feeds.items() if k in self.session_inputs}
        return dict(zip(outputs, self.session.run(outputs, feeds)))
