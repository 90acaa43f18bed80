"""The `embedding` service (`mini-embedding`): sentence embeddings and related articles.

  POST /v1/models/<name>:predict   {"text": "..."}
                                   -> {"model_name", "model_version", "embedding": [384 floats]}
                                   {"instances": [{"text": "..."}, ...]}  (1 to 64)
                                   -> {"predictions": [<the same, per instance>]}, one Triton call
  GET  /v1/models/<name>/related?title=T&count=N   (N from 1 to 24, default 12)
                                   -> [{"title", "score"}, ...], best first, T left out

The related-articles index is the one stored beside the served model version
(`lwt index build`). It is loaded at start-up (an index of another model version stops
the service: exit 1), and again whenever it changes on disk, so an index built while the
service runs is answered from at the next request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import faiss
from fastapi import APIRouter, Request
from kserve.protocol.infer_type import InferInput, InferResponse

from exporters.contract.card import ModelCard
from exporters.contract.errors import LwtError
from exporters.contract.events import fields
from transformers_svc.base import Job, Row, RowService, require_object
from transformers_svc.embedding_svc.encoder import Encoder, as_floats
from transformers_svc.embedding_svc.index import (INDEX, MANIFEST, Related, RelatedIndex, load_index,
                                                  model_file_sha512)
from transformers_svc.errors import BadRequest, NotFound, ServiceError
from transformers_svc.metrics import stage
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.services")
MAX_INSTANCES = 64
MAX_RELATED = 24  # as Lift Wing's recommendation API
DEFAULT_RELATED = 12


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


class IndexUnusable(ServiceError):
    """An index appeared (or changed) while serving, but cannot be answered from."""

    status, kind = 409, "IndexUnusable"


class EmbeddingService(RowService[str]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, settings: ServiceSettings,
                 predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        self.card = card
        self.version_dir = version_dir
        self.encoder = Encoder(name, card, version_dir)
        _, self.model_sha512 = model_file_sha512(version_dir, card)
        self.index: RelatedIndex | None = None
        self.index_problem: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._lock = asyncio.Lock()
        faiss.omp_set_num_threads(1)  # one query vector at a time: more threads would only contend with Triton
        self._reload()  # at start-up an unusable index is fatal: raised to build_services

    # --- embeddings -----------------------------------------------------------------------
    def parse(self, body: Any) -> Job[str]:
        """Rows are keyed by a digest of their text (duplicates share it): the request log
        names rows by key, and texts are the user's, not the log's."""
        payload = require_object(body, '{"text": "..."} or {"instances": [{"text": "..."}, ...]}')
        if ("text" in payload) == ("instances" in payload):
            raise BadRequest('give either "text" or "instances" (a list of {"text": ...})')
        if "text" in payload:
            texts, form = [self._text(payload["text"], "text")], "single"
        else:
            instances = payload["instances"]
            if not isinstance(instances, list) or not 1 <= len(instances) <= MAX_INSTANCES:
                raise BadRequest(f'"instances" must be a list of 1 to {MAX_INSTANCES} objects {{"text": ...}}')
            texts, form = [], "instances"
            for i, instance in enumerate(instances):
                if not isinstance(instance, dict) or "text" not in instance:
                    raise BadRequest(f'instances[{i}] must be an object with "text"')
                texts.append(self._text(instance["text"], f"instances[{i}].text"))
        by_key = {text_key(t): t for t in texts}
        return Job([Row(text_key(t)) for t in texts], form=form, context=by_key)

    def _text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"{where} must be a non-empty string")
        if len(value) > self.settings.max_text_chars:
            raise BadRequest(f"{where} is over {self.settings.max_text_chars} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): no tokenizer takes it
            raise BadRequest(f"{where} is not valid Unicode text") from None
        return value

    async def prepare(self, keys: Sequence[str], job: Job[str]) -> Mapping[str, Any]:
        with stage(self.name, "tokenize", job.timings):
            rows = await asyncio.to_thread(self.encoder.tokenize, [job.context[k] for k in keys])
        return dict(zip(keys, rows))

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        return self.encoder.tensors(values)

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        job: Job[str] = payload
        if len(job.pending) <= self.encoder.max_batch:  # the usual case: one Triton call
            return await super().predict(payload, headers, response_headers)
        grouped = job.by_key()  # more rows than the entry's max_batch_size: concurrent calls
        with stage(self.name, "predict", job.timings):
            vectors = await self.encoder.run(self.predictor, [grouped[k][0].value for k in job.pending])
        for key, vector in zip(job.pending, vectors):
            for row in grouped[key]:
                row.output = vector
        return job

    def split(self, response: InferResponse, count: int) -> list[Any]:
        return list(response.outputs[0].as_numpy().reshape(count, -1))

    def respond(self, job: Job[str]) -> Any:
        answers = [{"model_name": self.name, "model_version": self.card.model_version,
                    "embedding": as_floats(row.output)} for row in job.rows]
        return answers[0] if job.form == "single" else {"predictions": answers}

    # --- related articles -----------------------------------------------------------------
    def add_routes(self, router: APIRouter) -> None:
        @router.get(f"/v1/models/{self.name}/related", response_model=None)
        async def related(request: Request) -> list[dict[str, Any]]:
            title, count = self._related_query(request.query_params)
            index = await self.current_index()
            position = index.position(title)
            if position is None:
                raise NotFound(f"no page titled {title!r} in the related-articles index of {self.name} "
                               f"({len(index)} pages of {index.manifest.wiki})")
            found: list[Related] = await asyncio.to_thread(index.related, position, count)
            return [{"title": r.title, "score": r.score} for r in found]

    @staticmethod
    def _related_query(query: Mapping[str, str]) -> tuple[str, int]:
        title = query.get("title", "")
        if not title.strip():
            raise BadRequest("give the seed page as ?title=...")
        raw = query.get("count", str(DEFAULT_RELATED))
        if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_RELATED:
            raise BadRequest(f"count must be an integer from 1 to {MAX_RELATED}")
        return title, int(raw)

    async def current_index(self) -> RelatedIndex:
        """The index on disk now: reloaded (in a thread, once) when it changed."""
        if self._manifest_stamp() != self._stamp:
            async with self._lock:
                if self._manifest_stamp() != self._stamp:
                    await asyncio.to_thread(self._reload, False)
        if self.index_problem is not None:
            raise IndexUnusable(self.index_problem)
        if self.index is None:
            raise NotFound(f"{self.name} version {self.card.model_version} has no related-articles index; build "
                           f"one with `lwt index build --wiki API_URL --repository REPOSITORY --model {self.name}` "
                           f"(it is written to {self.version_dir / INDEX})")
        return self.index

    def _manifest_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.version_dir / INDEX / MANIFEST)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _reload(self, fatal: bool = True) -> None:
        """Load the index on disk; read again if it was replaced while being read (a rebuild
        renames a whole folder in: the files read must all be of one build)."""
        try:
            for _ in range(3):
                stamp = self._manifest_stamp()
                index = load_index(self.version_dir, self.card, self.name, self.model_sha512)
                if self._manifest_stamp() == stamp:
                    break
        except LwtError as exc:
            if fatal:
                raise
            self.index, self.index_problem, self._stamp = None, exc.message, stamp
            log.warning("related-articles index refused", extra=fields(model=self.name, reason=exc.message))
            return
        self.index, self.index_problem, self._stamp = index, None, stamp
        if index is not None:
            log.info("related-articles index loaded", extra=fields(
                model=self.name, pages=len(index), kind=index.manifest.kind, wiki=index.manifest.wiki,
                created=index.manifest.created))


def build_embedding_service(name: str, card: ModelCard, version_dir: Path, _labels: list[str],
                            ctx: Any) -> EmbeddingService:
    """`FACTORIES["embedding"]` (ctx: the server's `Context`)."""
    return EmbeddingService(name, card, version_dir, ctx.settings, ctx.predictor)
