"""Triton, as the services see it: one KServe v2 client per process (REST or gRPC).

KServe's public inference clients do the protocol; this module adds what every service
needs around them: the model name per call (a service may use several Triton entries),
readiness per model, and Triton's failures as one `PredictorUnavailable` (503).
"""

from __future__ import annotations

import grpc
import httpx
from kserve.inference_client import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferRequest, InferResponse

from transformers_svc.errors import PredictorUnavailable
from transformers_svc.settings import ServiceSettings


class Predictor:
    def __init__(self, settings: ServiceSettings) -> None:
        self.host = settings.predictor_host
        self.grpc = settings.predictor_protocol == "grpc-v2"
        self.timeout = settings.predictor_timeout
        self._rest: InferenceRESTClient | None = None
        self._grpc: InferenceGRPCClient | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def rest(self) -> InferenceRESTClient:
        if self._rest is None:  # created on the serving event loop, not at import
            self._rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=self.timeout, retries=1))
        return self._rest

    def grpc_client(self) -> InferenceGRPCClient:
        if self._grpc is None:
            self._grpc = InferenceGRPCClient(self.host, timeout=self.timeout, retries=2)  # gRPC needs >= 2 attempts
        return self._grpc

    async def infer(self, request: InferRequest) -> InferResponse:
        try:
            if self.grpc:
                return await self.grpc_client().infer(request)
            response = await self.rest().infer(self.base_url, request, model_name=request.model_name)
            assert isinstance(response, InferResponse)
            return response
        except httpx.HTTPStatusError as exc:
            raise PredictorUnavailable(f"the Triton predictor for {request.model_name} refused the request "
                                       f"(HTTP {exc.response.status_code}: {exc.response.text[:200]})") from None
        except httpx.TransportError as exc:
            raise PredictorUnavailable(f"the Triton predictor for {request.model_name} is unavailable "
                                       f"({type(exc).__name__})") from None
        except grpc.RpcError as exc:
            raise PredictorUnavailable(f"the Triton predictor for {request.model_name} is unavailable "
                                       f"({exc.code() if hasattr(exc, 'code') else type(exc).__name__})") from None

    async def model_ready(self, name: str) -> bool:
        try:
            if self.grpc:
                return bool(await self.grpc_client().is_model_ready(name))
            return bool(await self.rest().is_model_ready(self.base_url, name))
        except (httpx.HTTPError, grpc.RpcError):
            return False
