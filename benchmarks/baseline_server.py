"""What users run today: a Lift Wing-style KServe Python model server, one model per process.

`sklearn`: unpickles the scikit-learn estimator and calls `predict_proba` per request;
`torch`: a Hugging Face classifier in PyTorch eager mode. Both answer KServe v2 REST
(`/v2/models/<name>/infer`) with the same tensors as the Triton model, so one load
generator drives both. Run: python -m benchmarks.baseline_server --kind ... --port P.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import joblib
import kserve
import numpy as np
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer



class SklearnModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        self.model = joblib.load(self.path)
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None, *_: Any) -> InferResponse:
        X = payload.inputs[0].as_numpy()
        return _response(self.name, "probabilities", self.model.predict_proba(X).astype(np.float32))


class TorchModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        # Imported here: only the torch kind needs torch (seconds to import).
        import torch
        from transformers import AutoModelForSequenceClassification

        self.torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(self.path, local_files_only=True).eval()
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None, *_: Any) -> InferResponse:
        feeds = {t.name: self.torch.from_numpy(t.as_numpy()) for t in payload.inputs}
        with self.torch.inference_mode():
            logits = self.model(**feeds).logits.numpy()
        return _response(self.name, "logits", logits.astype(np.float32))


def _response(model: str, name: str, array: np.ndarray) -> InferResponse:
    output = InferOutput(name=name, shape=list(array.shape), datatype="FP32")
    output.set_data_from_numpy(array, binary_data=False)
    return InferResponse(response_id="", model_name=model, infer_outputs=[output])


# --kind -> "module:class" of the model; a benchmark family adds its own line. Imported by
# name, only the kind asked for: each baseline process carries its own model's libraries
# (torch costs a langid baseline 400 MB it does not use), as a Lift Wing server does.
KINDS: dict[str, str] = {
    "sklearn": "benchmarks.baseline_server:SklearnModel",
    "torch": "benchmarks.baseline_server:TorchModel",
    "fasttext-langid": "benchmarks.langid_baseline:FastTextLangIdModel",
    "sentence-embedding": "benchmarks.embedding_baseline:SentenceEmbeddingModel",
    "xgboost": "benchmarks.revertrisk_baseline:XGBoostModel",
    "descriptions": "benchmarks.descriptions_baseline:DescriptionsBaseline",
}


def model_class(kind: str) -> type[kserve.Model]:
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    model = model_class(args.kind)(args.name, args.model_path)
    model.load()
    registry = ModelRepository()
    registry.update(model)
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, DataPlane(model_registry=registry),
                      ModelRepositoryExtension(model_registry=registry), args.port, grace_period=2)
    rest.config.host = "127.0.0.1"  # KServe binds 0.0.0.0; a benchmark stays on loopback
    rest.run()


if __name__ == "__main__":
    main()
