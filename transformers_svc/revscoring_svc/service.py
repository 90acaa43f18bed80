"""A KServe transformer for one revscoring model: request -> features -> Triton -> ORES.

Thin by design: `preprocess` fetches and solves features, KServe's own `predict` calls
Triton over v2 (REST or gRPC, `predictor_host`), `postprocess` writes Lift Wing's format.
Inputs: `{"rev_id": N}`, `{"rev_id": N, "extended_output": true}` (adds the feature
values) or `{"rev_ids": [...]}` (up to 50, one batched Triton call); on the v2 route an
INT64 tensor `rev_id` and back a `probabilities` tensor.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import kserve
import numpy as np
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from transformers_svc import ores_format
from transformers_svc.errors import BadRequest, PredictorUnavailable, ServiceError
from transformers_svc.mediawiki.client import MediaWikiClient
from transformers_svc.metrics import ERRORS, stage
from transformers_svc.revscoring_svc.features import Solver, fetch

log = logging.getLogger("lwt.revscoring")
MAX_REVISIONS = 50


@dataclass
class Request:
    """What preprocess learned, for postprocess (carried in a context variable)."""

    rev_ids: list[int]
    v2: bool = False
    extended: bool = False
    single: bool = True
    features: dict[int, list[Any]] = field(default_factory=dict)
    errors: dict[int, ServiceError] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


_REQUEST: contextvars.ContextVar[Request] = contextvars.ContextVar("lwt_request")


def parse_rev_ids(payload: Any) -> Request:
    """Validate the client's JSON (or v2 tensor) into rev ids; 400 on anything else."""
    if isinstance(payload, (bytes, str)):  # KServe passes non-JSON content types through raw
        try:
            payload = json.loads(payload)
        except ValueError:
            raise BadRequest("the request body must be JSON") from None
    if isinstance(payload, InferRequest):
        tensor = payload.get_input_by_name("rev_id")
        if tensor is None:
            raise BadRequest("v2 requests need an INT64 input tensor named 'rev_id'")
        ids = [int(v) for v in np.asarray(tensor.as_numpy()).ravel()]
        request = Request(ids, v2=True, single=False)
    elif isinstance(payload, dict):
        extended = payload.get("extended_output", False)
        if not isinstance(extended, bool):
            raise BadRequest("extended_output must be true or false")
        if "rev_ids" in payload:
            ids = payload["rev_ids"]
            if not isinstance(ids, list) or not ids:
                raise BadRequest("rev_ids must be a non-empty list of integers")
            request = Request(list(ids), extended=extended, single=False)
        elif "rev_id" in payload:
            request = Request([payload["rev_id"]], extended=extended)
        else:
            raise BadRequest('expected {"rev_id": N} or {"rev_ids": [N, ...]}')
    else:
        raise BadRequest("the request body must be a JSON object")
    if any(isinstance(i, bool) or not isinstance(i, int) or i <= 0 for i in request.rev_ids):
        raise BadRequest("rev_id must be a positive integer")
    if len(request.rev_ids) > MAX_REVISIONS:
        raise BadRequest(f"at most {MAX_REVISIONS} revisions per request, got {len(request.rev_ids)}")
    request.rev_ids = list(dict.fromkeys(request.rev_ids))
    return request


class RevscoringService(kserve.Model):
    def __init__(self, name: str, card: dict[str, Any], features: list[Any], labels: list[str],
                 mediawiki: MediaWikiClient, wiki_db: str) -> None:
        super().__init__(name)
        self.card = card
        self.labels = labels
        self.multilabel = bool(card.get("multilabel"))
        self.wiki_db = wiki_db
        self.model_key = name[len(wiki_db) + 1:] if name.startswith(f"{wiki_db}-") else name
        self.version = card.get("model_version")
        self.feature_names = list(card["features"])
        self.solver = Solver(features)
        self.mediawiki = mediawiki
        self.ready = True

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> InferRequest:
        request = parse_rev_ids(payload)
        _REQUEST.set(request)
        with stage(self.name, "fetch", request.timings):
            fetched = await fetch(self.mediawiki, request.rev_ids)
        request.errors.update(fetched.errors)
        good = [r for r in request.rev_ids if r not in request.errors]
        with stage(self.name, "features", request.timings):
            solved = await asyncio.gather(*(asyncio.to_thread(self._solve, r, fetched) for r in good))
        for rev_id, values in zip(good, solved):
            if isinstance(values, ServiceError):
                request.errors[rev_id] = values
            else:
                request.features[rev_id] = values
        if not request.features:
            self._raise_for(request)
        X = np.asarray([request.features[r] for r in request.rev_ids if r in request.features], dtype=np.float32)
        tensor = InferInput(name="input", shape=list(X.shape), datatype="FP32")
        tensor.set_data_from_numpy(X, binary_data=True)
        return InferRequest(model_name=self.name, infer_inputs=[tensor])

    def _solve(self, rev_id: int, fetched: Any) -> list[Any] | ServiceError:
        try:
            return self.solver.solve(rev_id, fetched)
        except ServiceError as exc:
            return exc

    def _raise_for(self, request: Request) -> None:
        """Every revision failed: the first error's status, with the ORES-shaped body."""
        first = request.errors[request.rev_ids[0]]
        for error in request.errors.values():
            ERRORS.labels(self.name, error.kind).inc()
        first.body = None if request.v2 else ores_format.response(
            self.wiki_db, self.model_key, self.version,
            {r: ores_format.error_entry(e) for r, e in request.errors.items()})
        log.info("revisions refused", extra={"model": self.name, "rev_ids": request.rev_ids,
                                              "error": first.kind, **request.timings})
        raise first

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        request = _REQUEST.get()
        with stage(self.name, "predict", request.timings):
            try:
                return await super().predict(payload, headers)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                ERRORS.labels(self.name, PredictorUnavailable.kind).inc()
                raise PredictorUnavailable(f"the Triton predictor for {self.name} is unavailable "
                                           f"({type(exc).__name__})") from exc
            except Exception as exc:  # gRPC raises its own error types
                if type(exc).__module__.startswith("grpc"):
                    ERRORS.labels(self.name, PredictorUnavailable.kind).inc()
                    raise PredictorUnavailable(f"the Triton predictor for {self.name} is unavailable") from exc
                raise

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> Any:
        request = _REQUEST.get()
        probabilities = result.outputs[0].as_numpy() if isinstance(result, InferResponse) else np.asarray(result)
        scored = [r for r in request.rev_ids if r in request.features]
        log.info("scored", extra={"model": self.name, "rev_ids": request.rev_ids, "errors": len(request.errors),
                                  **request.timings})
        if request.v2:
            output = InferOutput(name="probabilities", shape=list(probabilities.shape), datatype="FP32")
            output.set_data_from_numpy(probabilities.astype(np.float32), binary_data=False)
            return InferResponse(response_id="", model_name=self.name, infer_outputs=[output])
        entries: dict[int, dict[str, Any]] = {}
        by_id = dict(zip(scored, probabilities))
        for rev_id in request.rev_ids:
            if rev_id in request.errors:
                ERRORS.labels(self.name, request.errors[rev_id].kind).inc()
                entries[rev_id] = ores_format.error_entry(request.errors[rev_id])
                continue
            entry: dict[str, Any] = {"score": ores_format.score(by_id[rev_id], self.labels, self.multilabel)}
            if request.extended:
                entry["features"] = dict(zip(self.feature_names, _plain(request.features[rev_id])))
            entries[rev_id] = entry
        return ores_format.response(self.wiki_db, self.model_key, self.version, entries)


def _plain(values: list[Any]) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]
