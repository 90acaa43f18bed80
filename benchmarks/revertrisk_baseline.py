"""The benchmark's baseline for `revertrisk-la`: Lift Wing's revert-risk server shape, the
XGBoost classifier loaded in-process and called per request (`predict_proba` on the
request's rows), answering KServe v2 with the same tensors as the Triton entry. Kept apart
from `benchmarks.models`: the baseline process imports KServe and never tritonclient.
"""

from __future__ import annotations

from typing import Any

import kserve
import numpy as np
import xgboost
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class XGBoostModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        self.model = xgboost.XGBClassifier()
        self.model.load_model(self.path)
        # One thread, as one request's rows need: XGBoost's default (every core) spends a
        # single-row call in thread start-up and contention (31 ms against 1.5 ms here).
        self.model.set_params(n_jobs=1)
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None, *_: Any) -> InferResponse:
        X = payload.inputs[0].as_numpy()
        probabilities = np.asarray(self.model.predict_proba(X), dtype=np.float32)
        output = InferOutput(name="probabilities", shape=list(probabilities.shape), datatype="FP32")
        output.set_data_from_numpy(probabilities, binary_data=False)
        return InferResponse(response_id="", model_name=self.name, infer_outputs=[output])
