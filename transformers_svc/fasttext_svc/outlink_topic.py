"""`outlink-topic-model`: Lift Wing's outlink topic API, answered by a fastText model on Triton.

`{"page_title": "...", "lang": "en"}` or `{"page_id": N, "lang": "en"}`, optionally
`"threshold"` (default 0.5) and `"revision_id"` (that revision's links, not the page's
current ones) -> `{"prediction": {"article": "<page URL>", "results": [{"topic", "score"},
...]}}`: every topic whose score is at least the threshold (Lift Wing's `>=`), best first
in fastText's own order. The outlinks' Wikidata ids, space-joined, are the model's text
(`outlinks`). A page (or revision) that does not exist: 404; a page without outlinks that
carry a Wikidata id: an empty list, without a Triton call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

from kserve.protocol.infer_type import InferInput

from exporters.contract.card import ModelCard
from transformers_svc.base import Job, Row, RowService, int64_tensor, positive_int, require_object
from transformers_svc.codecs.lang_revision import wiki_for
from transformers_svc.errors import BadRequest
from transformers_svc.fasttext_svc.encoder import FastTextEncoder
from transformers_svc.fasttext_svc.outlinks import page_outlinks, resolve_page, revision_outlinks
from transformers_svc.mediawiki.client import MediaWikiClient, deadline
from transformers_svc.metrics import stage
from transformers_svc.predictor import Predictor
from transformers_svc.settings import MEDIAWIKI_MAX_REV_ID, ServiceSettings

EXPECTED = '{"page_title": "...", "lang": "en"} or {"page_id": N, "lang": "en"}'
NO_OUTLINKS: list[int] = []
MEDIAWIKI_MAX_PAGE_ID = 2**32 - 1  # page_id is an unsigned 32-bit column
# Never in a MediaWiki title; `|` would also name a second page in the API call.
_ILLEGAL_TITLE = re.compile(r"[|<>\[\]{}\x00-\x1f\x7f\ud800-\udfff]")  # and lone surrogates


@dataclass(frozen=True)
class OutlinkRequest:
    lang: str
    wiki_db: str
    page_title: str | None
    page_id: int | None
    revision_id: int | None
    threshold: float

    def article(self) -> str:
        """The page's URL as Lift Wing gives it: by title, or by curid for a page id."""
        if self.page_title is not None:
            return f"https://{self.lang}.wikipedia.org/wiki/{quote(self.page_title.replace(' ', '_'), safe='/:(),')}"
        return f"https://{self.lang}.wikipedia.org/wiki?curid={self.page_id}"


def parse_request(body: Any) -> OutlinkRequest:
    body = require_object(body, EXPECTED)
    if "lang" not in body:
        raise BadRequest(f"missing lang: expected {EXPECTED}")
    wiki_db = wiki_for(body["lang"])
    title, page_id = body.get("page_title"), body.get("page_id")
    if title is not None and page_id is not None:
        raise BadRequest("give page_title or page_id, not both")
    if title is None and page_id is None:
        raise BadRequest(f"missing page_title or page_id: expected {EXPECTED}")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise BadRequest("page_title must be a non-empty string")
    if title is not None and (_ILLEGAL_TITLE.search(title) or len(title.encode("utf-8")) > 255):
        raise BadRequest(f"page {title!r} is not a valid page title")
    if page_id is not None:
        page_id = positive_int(page_id, "page_id", MEDIAWIKI_MAX_PAGE_ID)
    revision_id = body.get("revision_id")
    if revision_id is not None:
        revision_id = positive_int(revision_id, "revision_id", MEDIAWIKI_MAX_REV_ID)
    threshold = body.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise BadRequest("threshold must be a number from 0 to 1")
    return OutlinkRequest(body["lang"], wiki_db, title, page_id, revision_id, float(threshold))


class OutlinkTopicService(RowService[OutlinkRequest]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, clients: Callable[[str], MediaWikiClient],
                 settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        self.encoder = FastTextEncoder(card, version_dir)
        self.clients = clients

    def parse(self, body: Any) -> Job[OutlinkRequest]:
        request = parse_request(body)
        return Job([Row(request)], form="single", context=request)

    async def prepare(self, keys: Sequence[OutlinkRequest], job: Job[OutlinkRequest]) -> Mapping[OutlinkRequest, Any]:
        prepared: dict[OutlinkRequest, Any] = {}
        for request in keys:
            client = self.clients(request.wiki_db)
            with stage(self.name, "fetch", job.timings):
                async with deadline(self.settings.mediawiki_timeout, f"MediaWiki API at {client.api_url}"):
                    page = await resolve_page(client, request.page_title, request.page_id)
                    if request.revision_id is None:
                        qids = await page_outlinks(client, page)
                    else:
                        qids = await revision_outlinks(client, page, request.revision_id)
            job.timings["outlinks"] = len(qids)
            prepared[request] = self.encoder.encode(" ".join(qids), "the outlinks") if qids else NO_OUTLINKS
        return prepared

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        """No outlinks: nothing to ask Triton (fastText would score the empty line)."""
        job: Job[OutlinkRequest] = payload
        grouped = job.by_key()
        for key in [k for k in job.pending if grouped[k][0].value is NO_OUTLINKS]:
            for row in grouped[key]:
                row.output = NO_OUTLINKS
            job.pending.remove(key)
        return await super().predict(job, headers, response_headers)

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        return [int64_tensor("input_ids", self.encoder.batch(values))]

    def respond(self, job: Job[OutlinkRequest]) -> Any:
        row = job.rows[0]
        if row.error is not None:
            raise row.error
        request = row.key
        ranked = [] if row.output is NO_OUTLINKS else self.encoder.ranked(row.output)
        results = [{"topic": topic, "score": score} for topic, score in ranked if score >= request.threshold]
        return {"prediction": {"article": request.article(), "results": results}}


def build_outlink_topic_service(name: str, card: ModelCard, version: Path, labels: list[str],
                                ctx: Any) -> OutlinkTopicService:
    """`FACTORIES["outlink-topic-model"]` (ctx: the server's Context)."""
    return OutlinkTopicService(name, card, version, ctx.client, ctx.settings, ctx.predictor)
