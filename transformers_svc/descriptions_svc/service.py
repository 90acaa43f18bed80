"""`article-descriptions`: short description suggestions for an article, Lift Wing's API.

    POST /v1/models/article-descriptions:predict
    {"lang": "en", "title": "Danube", "num_beams": 2, "debug": 0}
    -> {"prediction": ["...", "..."], "blp": false, "lang": "en", "title": "Danube", "num_beams": 2}

`prediction` holds num_beams suggestions, best first; `debug: 1` adds `debug` with the stage
timings, the lead texts used (per language) and the source length. `blp` is true when the
page is in Category:Living people (the local wiki has no Wikidata).

Where each part runs: here, the MediaWiki fetch (leads.py), the source (the page's lead,
then its interlanguage-linked pages' leads, each with its language code, in at most
`descriptions_max_source_tokens`), the beam search and the batching of every request's
decoding steps (batcher.py); on Triton, the encoder entry and the generator entry that
keeps the caches (exporters/seq2seq). Missing page 404; unsupported lang, bad num_beams or
body 400; generation queue full 503.

The predict route is our own (`add_routes`), ahead of KServe's for the same path: KServe
runs predict inside the request and gives a model no way to see the client leave. Ours runs
the pipeline as a task and checks `request.is_disconnected()` while it runs; a client that
went away cancels the task, and the batcher frees its rows at the next step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import kserve
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Gauge
from transformers import AutoTokenizer

from exporters.contract.card import ModelCard
from exporters.contract.errors import CardError
from exporters.contract.events import fields
from exporters.seq2seq.search import Result, Settings
from exporters.seq2seq.sources import encode_text, join_segments
from transformers_svc.base import decode_body, require_object
from transformers_svc.descriptions_svc.batcher import Batcher
from transformers_svc.descriptions_svc.generator import TritonGenerator
from transformers_svc.descriptions_svc.leads import Page, fetch_leads, fetch_page
from transformers_svc.errors import BadRequest, ServiceError
from transformers_svc.mediawiki.client import MediaWikiClient, deadline
from transformers_svc.metrics import ERRORS, REQUESTS, stage
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.services")
FIELDS = {"lang", "title", "num_beams", "debug"}
MAX_TITLE = 255  # MediaWiki titles are at most 255 bytes
CLIENT_CLOSED = 499  # nginx's code for "client closed the request"; nobody reads it

ROWS = Gauge("lwt_generation_rows", "Sequences (beams) decoding, by model", ["model"])
TRITON_ROWS = Gauge("lwt_generation_triton_rows", "Rows in use on the generator entry (its last answer)", ["model"])
WAITING = Gauge("lwt_generation_waiting", "Requests waiting for generation rows", ["model"])
OUTCOMES = Gauge("lwt_generation_requests", "Generation requests so far, by outcome", ["model", "outcome"])
STEPS = Gauge("lwt_generation_steps", "Decoding steps run (one Triton call each)", ["model"])


class NoLeadText(ServiceError):
    status, kind = 422, "NoLeadText"


@dataclass
class DescriptionRequest:
    lang: str
    title: str
    num_beams: int
    debug: bool
    timings: dict[str, float] = field(default_factory=dict)
    page: Page | None = None
    leads: dict[str, str] = field(default_factory=dict)
    source: list[int] = field(default_factory=list)
    result: Result | None = None
    started: float = field(default_factory=time.perf_counter)


class DescriptionsService(kserve.Model):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, clients: Callable[[str], MediaWikiClient],
                 settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name)
        info = card.seq2seq
        if info is None:
            raise CardError(f"{version_dir}: an article-descriptions model needs the card's seq2seq section")
        self.settings, self.clients = settings, clients
        self.triton_models = [name, info.encoder]  # readiness: both entries
        self.tokenizer = AutoTokenizer.from_pretrained(str(version_dir / info.tokenizer.path), local_files_only=True)
        self.codes = {lang: int(self.tokenizer.convert_tokens_to_ids(code)) for lang, code in info.languages.items()}
        self.layout, self.target = info.source_layout, info.target_language
        base = Settings.from_generation_config(info.generation, info.max_positions,
                                               max_length=int(info.generation.get("max_length", 20)))
        max_length = max(2, min(base.max_length, settings.descriptions_max_new_tokens + 1, info.max_positions))
        self.base = base.with_(max_length=max_length, min_length=min(base.min_length, max_length))
        max_rows = max(1, min(settings.descriptions_max_rows, info.max_rows))
        self.max_beams = max(1, min(settings.descriptions_max_beams, max_rows))
        self.default_beams = max(1, min(base.num_beams, self.max_beams))
        self.generator = TritonGenerator(predictor, name)
        self.batcher = Batcher(self.generator, info.vocab_size, base.pad_token_id, max_rows,
                               settings.descriptions_max_queue, settings.descriptions_queue_timeout,
                               settings.descriptions_encode_batch)
        self._metrics()
        self.ready = True

    def _metrics(self) -> None:
        stats = self.batcher.stats
        ROWS.labels(self.name).set_function(lambda: self.batcher.rows)
        TRITON_ROWS.labels(self.name).set_function(lambda: self.generator.active_rows)
        WAITING.labels(self.name).set_function(lambda: len(self.batcher.waiting))
        STEPS.labels(self.name).set_function(lambda: stats.steps)
        for outcome in ("completed", "cancelled", "failed", "rejected"):
            OUTCOMES.labels(self.name, outcome).set_function(lambda o=outcome: getattr(stats, o))

    # --- the request -----------------------------------------------------------------------------
    def parse(self, body: Any) -> DescriptionRequest:
        payload = require_object(decode_body(body), '{"lang": "en", "title": "...", "num_beams": 2}')
        unknown = sorted(set(payload) - FIELDS)
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(FIELDS))}")
        lang, title = payload.get("lang"), payload.get("title")
        if not isinstance(lang, str) or lang not in self.codes:
            raise BadRequest(f"lang must be one of {', '.join(sorted(self.codes))} (got {lang!r})")
        if not isinstance(title, str) or not title.strip() or len(title.encode()) > MAX_TITLE:
            raise BadRequest(f"title must be a page title of 1 to {MAX_TITLE} bytes")
        beams = payload.get("num_beams", self.default_beams)
        if isinstance(beams, bool) or not isinstance(beams, int) or not 1 <= beams <= self.max_beams:
            raise BadRequest(f"num_beams must be an integer from 1 to {self.max_beams}")
        debug = payload.get("debug", 0)
        if debug not in (0, 1) or (not isinstance(debug, (bool, int))):
            raise BadRequest("debug must be 0 or 1")
        return DescriptionRequest(lang, title.strip(), beams, bool(debug))

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> DescriptionRequest:
        request = self.parse(payload)
        REQUESTS.labels(self.name, "single").inc()
        client = self.clients(f"{request.lang}wiki")
        with stage(self.name, "fetch", request.timings):
            async with deadline(self.settings.mediawiki_timeout, f"MediaWiki API at {client.api_url}"):
                request.page = await fetch_page(client, request.title)
                links = {lang: title for lang, title in request.page.langlinks.items()
                         if lang in self.codes and lang != request.lang}
                request.leads = {request.lang: request.page.lead} if request.page.lead else {}
                request.leads.update(await fetch_leads(self.clients, links) if links else {})
        if not request.leads:
            raise NoLeadText(f"{request.title!r} has no lead paragraph to describe")
        with stage(self.name, "tokenize", request.timings):
            order = sorted(request.leads, key=lambda lang: (lang != request.lang, lang))
            limit = self.settings.descriptions_max_source_tokens
            request.source = join_segments([encode_text(self.tokenizer, request.leads[lang], self.codes[lang],
                                                        self.layout, self.base.eos_token_ids[0], limit)
                                            for lang in order], limit)
        return request

    def settings_for(self, request: DescriptionRequest) -> Settings:
        code = self.codes[request.lang]
        if self.target == "forced_bos":  # mBART-50: start with </s>, force the language code
            return self.base.with_(num_beams=request.num_beams, forced_bos_token_id=code)
        return self.base.with_(num_beams=request.num_beams, decoder_start_token_id=code)

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> DescriptionRequest:
        request: DescriptionRequest = payload
        with stage(self.name, "generate", request.timings):
            request.result = await self.batcher.generate(request.source, self.settings_for(request), request.timings)
        return request

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> dict[str, Any]:
        request: DescriptionRequest = result
        assert request.result is not None and request.page is not None
        predictions = [self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
                       for tokens in request.result.token_lists()]
        request.timings["total_ms"] = round((time.perf_counter() - request.started) * 1000, 3)
        log.info("described", extra=fields(model=self.name, lang=request.lang, title=request.title,
                                           num_beams=request.num_beams, source_tokens=len(request.source),
                                           **request.timings))
        answer: dict[str, Any] = {"prediction": predictions, "blp": request.page.blp, "lang": request.lang,
                                  "title": request.title, "num_beams": request.num_beams}
        if request.debug:
            answer["debug"] = {"timings_ms": request.timings, "inputs": request.leads, "page": request.page.title,
                               "source_tokens": len(request.source)}
        return answer

    def validate(self, payload: Any) -> Any:
        return payload  # checked by `parse`: KServe's dict checks do not apply

    async def answer(self, body: Any) -> dict[str, Any]:
        """preprocess -> predict -> postprocess, as KServe runs them."""
        try:
            return await self.postprocess(await self.predict(await self.preprocess(body)))
        except ServiceError as error:
            ERRORS.labels(self.name, error.kind).inc()
            raise

    # --- HTTP -------------------------------------------------------------------------------------
    def add_routes(self, router: APIRouter) -> None:
        router.add_api_route(f"/v1/models/{self.name}:predict", self.http_predict, methods=["POST"],
                             response_model=None)

    async def http_predict(self, request: Request) -> Response:
        task = asyncio.ensure_future(self.answer(await request.body()))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.settings.descriptions_disconnect_poll)
                if done:
                    return JSONResponse(task.result())
                if await request.is_disconnected():
                    task.cancel()
                    log.info("client gone", extra=fields(model=self.name))
                    return Response(status_code=CLIENT_CLOSED)
        except asyncio.CancelledError:  # the server itself is stopping: stop the work too
            task.cancel()
            raise

    async def close(self) -> None:
        """Fail what is still queued or decoding and release its rows on Triton."""
        await self.batcher.close()


def build_descriptions_service(name: str, card: ModelCard, version_dir: Path, _labels: list[str],
                               ctx: Any) -> DescriptionsService:
    """`FACTORIES["article-descriptions"]` (ctx: the server's `Context`)."""
    return DescriptionsService(name, card, version_dir, ctx.client, ctx.settings, ctx.predictor)
