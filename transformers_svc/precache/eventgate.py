"""Revision-score events out to EventGate, batched, with retries.

EventGate (Wikimedia's event intake, `POST /v1/events`) takes a JSON array of events and
answers 201/202/204 when it took them all, 207 when it took some, 400 when all were
invalid, 500 when all failed; the body of 207/400/500 lists each failed event with its
reason (`{"invalid": [{"status", "event", "context"}], "error": [...]}`). Connection
errors, 5xx and 429 are retried with exponential back-off (tenacity); an event EventGate
refuses is logged with its reason and counted, never retried (it would be refused again).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from exporters.contract.events import fields

log = logging.getLogger("lwt.precache")


@dataclass
class SinkStats:
    sent: int = 0  # accepted by EventGate
    refused: int = 0  # invalid or errored, by EventGate's answer
    failed: int = 0  # never delivered: EventGate unreachable or failing after every retry
    batches: int = 0


class _Retry(Exception):
    pass


def _reason(status: dict[str, Any]) -> str:
    context = status.get("context")
    if isinstance(context, dict):
        text = context.get("errorsText") or context.get("message") or json.dumps(context)
    else:
        text = str(context)
    return f"{status.get('status', 'failed')}: {text}"[:300]


class EventGateSink:
    def __init__(self, url: str, client: httpx.AsyncClient, batch_size: int = 20, retries: int = 3,
                 backoff_s: float = 0.2, max_age_s: float = 1.0) -> None:
        self.url = url
        self.client = client
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_age_s = max_age_s
        self.stats = SinkStats()
        self._buffer: list[dict[str, Any]] = []
        self._oldest = 0.0

    async def add(self, event: dict[str, Any]) -> None:
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(event)
        if len(self._buffer) >= self.batch_size:
            await self.flush()

    async def flush_if_old(self) -> None:
        if self._buffer and time.monotonic() - self._oldest >= self.max_age_s:
            await self.flush()

    async def flush(self) -> None:
        batch, self._buffer = self._buffer, []
        if batch:
            await self._post(batch)

    async def _post(self, batch: list[dict[str, Any]]) -> None:
        self.stats.batches += 1
        retrying = AsyncRetrying(stop=stop_after_attempt(self.retries + 1), reraise=True,
                                 wait=wait_exponential(multiplier=self.backoff_s, max=5 * self.backoff_s),
                                 retry=retry_if_exception_type(_Retry))
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._send(batch)
        except _Retry as exc:
            self.stats.failed += len(batch)
            log.error("revision-score events not delivered", extra=fields(eventgate=self.url, events=len(batch),
                                                                          reason=str(exc)[:300]))
            return
        self._account(batch, response)

    async def _send(self, batch: list[dict[str, Any]]) -> httpx.Response:
        try:
            response = await self.client.post(self.url, json=batch)
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retry(f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    def _account(self, batch: list[dict[str, Any]], response: httpx.Response) -> None:
        if response.status_code < 300 and response.status_code != 207:
            self.stats.sent += len(batch)
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        failures = [s for key in ("invalid", "error") for s in (body or {}).get(key, []) if isinstance(s, dict)] \
            if isinstance(body, dict) else []
        if not failures:  # a refusal without EventGate's body (a wrong URL, a proxy): every event
            failures = [{"status": f"HTTP {response.status_code}", "context": response.text[:200], "event": e}
                        for e in batch]
        for status in failures:
            event = status.get("event") if isinstance(status.get("event"), dict) else {}
            log.warning("EventGate refused a revision-score event", extra=fields(
                eventgate=self.url, rev_id=event.get("rev_id"), database=event.get("database"),
                reason=_reason(status)))
        self.stats.refused += len(failures)
        self.stats.sent += max(0, len(batch) - len(failures))
