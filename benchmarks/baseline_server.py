"""What users run today: a Lift Wing-style KServe Python model server, one model per process.

`sklearn`: unpickles the scikit-learn estimator and calls `predict_proba` per request;
`torch`: a Hugging Face classifier in PyTorch eager mode. Both answer KServe v2 REST
(`/v2/models/<name>/infer`) with the same tensors as the Triton model, so one load
generator drives both. Run: python -m benchmarks.baseline_server --kind ... --port P.
"""

from __future__ import annotations

import argparse
from typing import Any

import kserve
import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class SklearnModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        import joblib

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["sklearn", "torch"], required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    import asyncio

    from kserve.model_server import FASTAPI_APP_IMPORT_STRING, ModelServer

    from transformers_svc.model_server import loopback_rest_server

    model = (SklearnModel if args.kind == "sklearn" else TorchModel)(args.name, args.model_path)
    model.load()
    server = ModelServer(http_port=args.port, enable_grpc=False, workers=1)
    server._register_and_check_atleast_one_model_is_ready([model])
    rest = loopback_rest_server(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension,
                                args.port, grace_period=2)
    asyncio.run(rest.start())


if __name__ == "__main__":
    main()
