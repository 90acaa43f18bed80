"""Triton backend `pytorch`, Python-based: serves a TorchScript `<version>/model.pt` unchanged.

Like the native LibTorch backend, inputs are passed positionally in config order and
outputs are matched to the config's outputs in order. `INTRA_OP_THREAD_COUNT` /
`INTER_OP_THREAD_COUNT` parameters set torch's thread pools.
"""

from __future__ import annotations

import numpy as np
import torch

from lwt.stack.backends.batching import BatchedModel


class TritonPythonModel(BatchedModel):
    default_filename = "model.pt"

    def load(self, path: str, parameters: dict[str, str], gpu: bool, device_id: int) -> None:
        intra = parameters.get("INTRA_OP_THREAD_COUNT") or parameters.get("intra_op_thread_count")
        if intra and int(intra) > 0:  # 0 means "the library's default", as natively
            torch.set_num_threads(int(intra))
        inter = parameters.get("INTER_OP_THREAD_COUNT") or parameters.get("inter_op_thread_count")
        if inter and int(inter) > 0:
            try:
                torch.set_num_interop_threads(int(inter))
            except RuntimeError:  # already set by an earlier instance in this process
                pass
        if gpu and not torch.cuda.is_available():
            raise RuntimeError("KIND_GPU instance but torch has no CUDA device")
        self.device = torch.device(f"cuda:{device_id}" if gpu else "cpu")
        self.session = torch.jit.load(path, map_location=self.device).eval()

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[s.name])).to(self.device) for s in self.inputs]
        with torch.inference_mode():
            result = self.session(*args)
        if isinstance(result, torch.Tensor):
            result = (result,)
        elif isinstance(result, dict):
            result = tuple(result[name] for name in outputs)
        return {name: t.detach().cpu().numpy() for name, t in zip(outputs, result)}
