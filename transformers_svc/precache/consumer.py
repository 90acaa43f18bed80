"""Precaching: every change event of a wiki with models is scored by all of that wiki's
models through the services (`POST /v3/precache`), so the score is in the cache before
anyone asks for it; with an EventGate URL, each scored revision also goes out as one
`mediawiki.revision_score` event, as Lift Wing Streams emit them.

Events of wikis without models, of kinds that make no new revision (move, delete...) and
of namespaces left out (`namespaces`) are skipped and counted; a malformed event is logged
and skipped, never stops the stream. A few events are scored at a time (`concurrency`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from exporters.contract.events import fields
from transformers_svc.errors import BadRequest
from transformers_svc.events import ChangeEvent, parse_change, revision_score_event
from transformers_svc.mediawiki.client import api_url_for
from transformers_svc.precache.eventgate import EventGateSink
from transformers_svc.precache.stream import RawEvent, Reconnects, read_source

log = logging.getLogger("lwt.precache")


class PrecacheError(Exception):
    """The services cannot be asked at all (wrong URL, not running)."""


@dataclass
class PrecacheStats:
    received: int = 0
    scored: int = 0  # revisions scored (or found in the cache) by the services
    scores: int = 0  # model scores among them
    score_errors: int = 0  # models that answered an error for the revision (deleted text...)
    skipped: Counter = field(default_factory=Counter)  # reason -> events
    malformed: int = 0
    failed: int = 0  # the services failed for the event after retries
    reconnects: Reconnects = field(default_factory=Reconnects)
    sink: Any = None  # the EventGate sink's stats, when events go out

    def as_dict(self) -> dict[str, Any]:
        out = {"received": self.received, "scored": self.scored, "scores": self.scores,
               "score_errors": self.score_errors, "skipped": dict(self.skipped), "malformed": self.malformed,
               "failed": self.failed, "reconnects": self.reconnects.count, "last_event_id": self.reconnects.last_id}
        if self.sink is not None:
            out["events_out"] = {"sent": self.sink.sent, "refused": self.sink.refused, "failed": self.sink.failed,
                                 "batches": self.sink.batches}
        return out

    def summary(self) -> str:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        text = (f"precache: {self.received} events, {self.scored} revisions scored ({self.scores} scores, "
                f"{self.score_errors} model errors), skipped {sum(self.skipped.values())} ({skipped}), "
                f"{self.malformed} malformed, {self.failed} failed, {self.reconnects.count} reconnects")
        if self.sink is not None:
            text += (f"; revision-score events: {self.sink.sent} sent, {self.sink.refused} refused, "
                     f"{self.sink.failed} not delivered")
        return text


class _Retry(Exception):
    pass


def _prediction(value: Any) -> list[str]:
    """revision-score's prediction is a list of strings (as Lift Wing writes it)."""
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


def score_fields(answer: dict[str, Any], change: ChangeEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """The v3 answer for one revision as revision-score's `scores` and `errors`."""
    context = answer.get(change.wiki, {})
    versions = {m: str(info.get("version")) for m, info in context.get("models", {}).items()}
    scores, errors = {}, {}
    for model, entry in context.get("scores", {}).get(str(change.rev_id), {}).items():
        if "score" in entry:
            scores[model] = {"model_name": model, "model_version": versions.get(model, ""),
                             "prediction": _prediction(entry["score"]["prediction"]),
                             "probability": {str(k): float(v) for k, v in entry["score"]["probability"].items()}}
        else:
            error = entry.get("error", {})
            errors[model] = {"model_name": model, "model_version": versions.get(model, ""),
                             "type": str(error.get("type", "Error")), "message": str(error.get("message", ""))}
    return scores, errors


def _domain(event: dict[str, Any], wiki: str) -> str:
    domain = event.get("meta", {}).get("domain") if isinstance(event.get("meta"), dict) else None
    if domain:
        return str(domain)
    try:
        return urlsplit(api_url_for(wiki)).hostname or wiki
    except ValueError:
        return wiki


class Precacher:
    def __init__(self, services_url: str, client: httpx.AsyncClient, stats: PrecacheStats,
                 sink: EventGateSink | None = None, namespaces: Iterable[int] | None = None,
                 concurrency: int = 4, retries: int = 2) -> None:
        self.services_url = services_url.rstrip("/")
        self.client = client
        self.stats = stats
        self.sink = sink
        self.namespaces = set(namespaces) if namespaces is not None else None
        self.concurrency = concurrency
        self.retries = retries
        self.wikis: set[str] = set()
        if sink is not None:
            stats.sink = sink.stats

    async def contexts(self) -> set[str]:
        """The wikis the services have models for (ORES' `GET /v3/scores/`)."""
        try:
            response = await self.client.get(f"{self.services_url}/v3/scores/")
            response.raise_for_status()
            self.wikis = set(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise PrecacheError(f"cannot list the services' models at {self.services_url}/v3/scores/ "
                                f"({type(exc).__name__}: {exc})") from None
        return self.wikis

    async def run(self, source: str, max_events: int | None = None) -> PrecacheStats:
        await self.contexts()
        slots = asyncio.Semaphore(self.concurrency)
        pending: set[asyncio.Task] = set()
        flusher = asyncio.create_task(self._flush_periodically()) if self.sink is not None else None
        taken = 0
        try:
            async for raw in read_source(source, self.client, self.stats.reconnects):
                await slots.acquire()
                task = asyncio.create_task(self._guarded(raw, slots))
                pending.add(task)
                task.add_done_callback(pending.discard)
                taken += 1
                if max_events is not None and taken >= max_events:
                    break
            if pending:
                await asyncio.gather(*pending)
        finally:
            if flusher is not None:
                flusher.cancel()
            if self.sink is not None:
                await self.sink.flush()
        return self.stats

    async def _flush_periodically(self) -> None:
        assert self.sink is not None
        while True:
            await asyncio.sleep(self.sink.max_age_s / 2)
            await self.sink.flush_if_old()

    async def _guarded(self, raw: RawEvent, slots: asyncio.Semaphore) -> None:
        try:
            await self.handle(raw)
        finally:
            slots.release()

    async def handle(self, raw: RawEvent) -> None:
        self.stats.received += 1
        try:
            event = json.loads(raw.data)
            change = parse_change(event)
        except (ValueError, BadRequest) as exc:
            self.stats.malformed += 1
            log.warning("malformed event skipped", extra=fields(event_id=raw.id, problem=str(exc)[:300],
                                                                data=raw.data[:200]))
            return
        reason = self._skip_reason(change)
        if reason is not None:
            self.stats.skipped[reason] += 1
            return
        answer = await self._score(event, change)
        if answer is None:
            return
        scores, errors = score_fields(answer, change)
        self.stats.scored += 1
        self.stats.scores += len(scores)
        self.stats.score_errors += len(errors)
        if self.sink is not None and scores:
            try:
                out = revision_score_event(change, scores, _domain(event, change.wiki), errors)
            except ValueError as exc:  # would not validate: never sent
                self.sink.stats.refused += 1
                log.error("revision-score event not built", extra=fields(rev_id=change.rev_id, problem=str(exc)))
                return
            await self.sink.add(out)

    def _skip_reason(self, change: ChangeEvent) -> str | None:
        if change.wiki not in self.wikis:
            return "wiki"
        if not change.scorable:
            return "kind"
        if self.namespaces is not None and change.page_namespace not in self.namespaces:
            return "namespace"
        return None

    async def _score(self, event: dict[str, Any], change: ChangeEvent) -> dict[str, Any] | None:
        """The services' v3 answer for the event; None (counted, logged) when there is none."""
        retrying = AsyncRetrying(stop=stop_after_attempt(self.retries + 1), reraise=True,
                                 wait=wait_exponential(multiplier=0.2, max=2.0), retry=retry_if_exception_type(_Retry))
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._post(event)
        except _Retry as exc:
            self.stats.failed += 1
            log.error("precache failed", extra=fields(wiki=change.wiki, rev_id=change.rev_id, reason=str(exc)[:300]))
            return None
        if response.status_code == 204:
            self.stats.skipped["services"] += 1  # the services have no model for it after all
            return None
        if response.status_code >= 400:
            self.stats.malformed += 1
            log.warning("the services refused the event", extra=fields(wiki=change.wiki, rev_id=change.rev_id,
                                                                        status=response.status_code,
                                                                        answer=response.text[:300]))
            return None
        return response.json()

    async def _post(self, event: dict[str, Any]) -> httpx.Response:
        try:
            response = await self.client.post(f"{self.services_url}/v3/precache", json=event)
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code}: {response.text[:200]}")
        return response


async def precache(source: str, services_url: str, stats: PrecacheStats, eventgate_url: str | None = None,
                   namespaces: Iterable[int] | None = None, concurrency: int = 4, batch_size: int = 20,
                   max_events: int | None = None, max_reconnects: int | None = None,
                   timeout_s: float = 30.0) -> PrecacheStats:
    """Consume `source` until it ends (or `max_events`); the counts are in `stats` even when
    interrupted."""
    stats.reconnects.limit = max_reconnects
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits,
                                 headers={"User-Agent": "liftwing-triton precache"}) as client:
        sink = EventGateSink(eventgate_url, client, batch_size) if eventgate_url else None
        precacher = Precacher(services_url, client, stats, sink, namespaces, concurrency)
        return await precacher.run(source, max_events)
