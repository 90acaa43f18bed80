"""The base of every transformer service: KServe's own split, with a typed state object.

  preprocess   parse the body into a `Job` (400 on anything malformed), then `prepare`
               each distinct key once (MediaWiki fetch under one deadline, features or
               tokens); a failure belongs to its row, the other rows go on.
  predict      one batched Triton call for the distinct prepared keys, through KServe's
               public v2 client (REST or gRPC, `transformers_svc.predictor`); 503 when
               Triton is unreachable.
  postprocess  `respond` writes the service's format from the rows, in input order:
               row i answers input i, a duplicate gets the same answer as its twin.

The `Job` travels from preprocess to predict to postprocess as the payload itself (KServe
passes each step's result to the next), so there is no per-request state elsewhere.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Generic, Hashable, Mapping, Sequence, TypeVar

import kserve
import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from exporters.contract.events import fields
from transformers_svc.errors import BadRequest, ServiceError
from transformers_svc.metrics import ERRORS, REQUESTS, stage
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.services")
K = TypeVar("K", bound=Hashable)


@dataclass
class Row(Generic[K]):
    """One item the client asked for."""

    key: K
    value: Any = None  # the prepared model input (features, token ids, ...)
    error: ServiceError | None = None
    output: Any = None  # this row's part of the predictor's answer, or a cached answer


@dataclass
class Job(Generic[K]):
    """One request's state from parsing to the answer."""

    rows: list[Row[K]]
    form: str  # how to answer: "single", "batch", "instances", "v2", ...
    extended: bool = False
    context: Any = None  # what a service learned while parsing (a wiki, a threshold, ...)
    timings: dict[str, float] = field(default_factory=dict)
    pending: list[K] = field(default_factory=list)  # distinct keys the predictor must answer

    def distinct(self) -> list[K]:
        return list(dict.fromkeys(r.key for r in self.rows))

    def by_key(self) -> dict[K, list[Row[K]]]:
        grouped: dict[K, list[Row[K]]] = {}
        for row in self.rows:
            grouped.setdefault(row.key, []).append(row)
        return grouped

    def errors(self) -> list[ServiceError]:
        return [r.error for r in self.rows if r.error is not None]


def decode_body(payload: Any) -> Any:
    """KServe passes JSON bodies as dicts and other content types raw."""
    if isinstance(payload, (bytes, bytearray, str)):
        try:
            return json.loads(payload)
        except ValueError:
            raise BadRequest("the request body must be JSON") from None
    return payload


def require_object(payload: Any, expected: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest(f"the request body must be a JSON object: {expected}")
    return payload


def positive_int(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be an integer from 1 to {maximum}")
    return value


class RowService(kserve.Model, Generic[K]):
    """A KServe transformer answering per row. Subclasses give `parse`, `prepare`,
    `inputs` and `respond` (and may override `split`)."""

    def __init__(self, name: str, settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name)
        self.settings = settings
        self.predictor = predictor
        self.triton_models = [name]  # the Triton entries readiness depends on
        self.ready = True

    # --- to give ------------------------------------------------------------------------
    def parse(self, body: Any) -> Job[K]:
        raise NotImplementedError

    async def prepare(self, keys: Sequence[K], job: Job[K]) -> Mapping[K, Any]:
        """A value or a ServiceError for every key."""
        raise NotImplementedError

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        raise NotImplementedError

    def split(self, response: InferResponse, count: int) -> list[Any]:
        """The predictor's answer, one item per prepared key (default: the first output's rows)."""
        array = response.outputs[0].as_numpy()
        return [array[i] for i in range(count)]

    def respond(self, job: Job[K]) -> Any:
        raise NotImplementedError

    async def answered(self, job: Job[K]) -> None:
        """Hook: answer rows before prepare (a cache sets `row.output` or `row.error`)."""

    # --- KServe's interface ---------------------------------------------------------------
    def validate(self, payload: Any) -> Any:
        return payload  # our Job, checked by `parse`: KServe's dict checks do not apply

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Job[K]:
        job = self.parse(decode_body(payload))
        REQUESTS.labels(self.name, job.form).inc()
        await self.answered(job)
        todo = [k for k, rows in job.by_key().items() if all(r.output is None and r.error is None for r in rows)]
        if todo:
            prepared = await self.prepare(todo, job)
            for key in todo:
                for row in job.by_key()[key]:
                    value = prepared[key]
                    if isinstance(value, ServiceError):
                        row.error = value
                    else:
                        row.value = value
            job.pending = [k for k in todo if not isinstance(prepared[k], ServiceError)]
        return job

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        job: Job[K] = payload
        if not job.pending:
            return job
        grouped = job.by_key()
        values = [grouped[k][0].value for k in job.pending]
        with stage(self.name, "predict", job.timings):
            response = await self.infer(self.inputs(values))
        for key, output in zip(job.pending, self.split(response, len(values))):
            for row in grouped[key]:
                row.output = output
        return job

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> Any:
        job: Job[K] = result
        for error in job.errors():
            ERRORS.labels(self.name, error.kind).inc()
        await self.store(job)
        # Revision ids and page titles are logged; a client's own text (langid, embeddings) is not.
        keys = [r.key for r in job.rows] if all(isinstance(r.key, int) for r in job.rows) else None
        log.info("scored", extra=fields(model=self.name, keys=keys, rows=len(job.rows), errors=len(job.errors()),
                                        **job.timings))
        return self.respond(job)

    async def store(self, job: Job[K]) -> None:
        """Hook after the predictor answered (a cache writes here)."""

    async def infer(self, inputs: list[InferInput], model: str | None = None) -> InferResponse:
        """One Triton call (to this service's entry, or another of its entries)."""
        return await self.predictor.infer(InferRequest(model_name=model or self.name, infer_inputs=inputs))

    @staticmethod
    def raise_when_all_failed(job: Job[K], body: dict[str, Any] | None) -> None:
        """A request whose every row failed answers with the first error's status."""
        if job.rows and all(r.error is not None for r in job.rows):
            first = job.rows[0].error
            assert first is not None
            first.body = body
            raise first


def float_tensor(name: str, rows: Sequence[Sequence[float]]) -> InferInput:
    array = np.asarray(rows, dtype=np.float32)
    tensor = InferInput(name=name, shape=list(array.shape), datatype="FP32")
    tensor.set_data_from_numpy(array, binary_data=True)
    return tensor


def int64_tensor(name: str, array: np.ndarray) -> InferInput:
    array = np.ascontiguousarray(array, dtype=np.int64)
    tensor = InferInput(name=name, shape=list(array.shape), datatype="INT64")
    tensor.set_data_from_numpy(array, binary_data=True)
    return tensor
