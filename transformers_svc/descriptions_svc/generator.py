"""The generator entry on Triton, as the batcher calls it: admit, step, release.

The entry keeps each sequence's decoder caches (exporters/seq2seq/triton_model.py); a call
carries token ids and small integers and answers a few candidates per row. Finished or
abandoned sequences are released in the next call (`release` rides along) or, when no call
follows, in a release call of their own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from transformers_svc.base import int64_tensor
from transformers_svc.descriptions_svc.steps import StepAnswer, StepRows
from transformers_svc.predictor import Predictor


class TritonGenerator:
    """One generator entry (by name) through the services' shared Triton client."""

    def __init__(self, predictor: Predictor, model: str) -> None:
        self.predictor, self.model = predictor, model
        self.active_rows = 0  # rows in use on Triton, as its last answer said
        self.calls = 0

    async def _call(self, tensors: dict[str, np.ndarray], release: Sequence[int]) -> InferResponse:
        inputs: list[InferInput] = [int64_tensor(name, array) for name, array in tensors.items()]
        if release:
            inputs.append(int64_tensor("release", np.array(list(release), np.int64)))
        self.calls += 1
        response = await self.predictor.infer(InferRequest(model_name=self.model, infer_inputs=inputs))
        outputs = {o.name: o for o in response.outputs}
        if "active_rows" in outputs:
            self.active_rows = int(outputs["active_rows"].as_numpy().reshape(-1)[0])
        return response

    @staticmethod
    def _output(response: InferResponse, name: str) -> np.ndarray:
        for output in response.outputs:
            if output.name == name:
                return output.as_numpy()
        raise KeyError(f"the generator's answer has no {name!r}")

    async def admit(self, sources: Sequence[Sequence[int]], beams: Sequence[int], pad_id: int,
                    release: Sequence[int] = ()) -> list[int]:
        width = max(len(s) for s in sources)
        ids = np.full((len(sources), width), pad_id, np.int64)
        mask = np.zeros_like(ids)
        for i, source in enumerate(sources):
            ids[i, : len(source)] = source
            mask[i, : len(source)] = 1
        response = await self._call({"input_ids": ids, "attention_mask": mask,
                                     "beams": np.array(list(beams), np.int64)}, release)
        return [int(h) for h in self._output(response, "handle").reshape(-1)]

    async def step(self, rows: StepRows, release: Sequence[int] = ()) -> StepAnswer:
        response = await self._call({"handle": rows.handle, "beam": rows.beam, "parent": rows.parent,
                                     "token": rows.token, "position": rows.position,
                                     "top_k": np.array([rows.top_k], np.int64)}, release)
        return StepAnswer(self._output(response, "top_ids").astype(np.int64),
                          self._output(response, "top_logits").astype(np.float32),
                          self._output(response, "logsumexp").astype(np.float32).reshape(-1))

    async def release(self, handles: Sequence[int]) -> None:
        await self._call({}, handles)
