"""Change events from a source: server-sent events as Wikimedia's EventStreams serves them,
or JSON lines (from a URL or a file).

EventStreams (`https://stream.wikimedia.org/v2/stream/mediawiki.page_change.v1`) sends
`event: message`, `id: <kafka offsets>`, `data: <one JSON event>`. A dropped connection is
resumed where it stopped: the reconnect sends `Last-Event-ID` with the last id seen, after
the delay the server asked for (`retry:`) or ours. A server answering 204 ends the stream
(the SSE rule for "do not reconnect"). JSON lines carry no ids: they are read once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import httpx
from httpx_sse import EventSource, SSEError

from exporters.contract.events import fields

log = logging.getLogger("lwt.precache")
SSE_TYPES = ("", "message")  # EventStreams' data events; anything else is not a change event


class SourceError(Exception):
    """The source cannot be read at all (a file that is not there, a URL that refuses)."""


@dataclass(frozen=True)
class RawEvent:
    data: str
    id: str | None = None  # the SSE id (EventStreams: Kafka offsets), None for JSON lines


@dataclass
class Reconnects:
    """How a dropped SSE connection is retried."""

    delay_s: float = 1.0
    max_delay_s: float = 30.0
    limit: int | None = None  # None: forever, as EventStreams clients do
    count: int = 0
    last_id: str | None = None


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


async def read_source(source: str, client: httpx.AsyncClient, reconnects: Reconnects) -> AsyncIterator[RawEvent]:
    if not is_url(source):
        async for event in _file_lines(Path(source)):
            yield event
        return
    async for event in _url(source, client, reconnects):
        yield event


async def _file_lines(path: Path) -> AsyncIterator[RawEvent]:
    if not path.is_file():
        raise SourceError(f"{path}: no such file (give a JSON-lines file or an http(s) URL)")
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                yield RawEvent(line.strip())
            await asyncio.sleep(0)  # let the scoring tasks run between lines


async def _url(url: str, client: httpx.AsyncClient, reconnects: Reconnects) -> AsyncIterator[RawEvent]:
    delay = reconnects.delay_s
    while True:
        headers = {"Accept": "text/event-stream, application/x-ndjson;q=0.9, application/json;q=0.8",
                   "Cache-Control": "no-store"}
        if reconnects.last_id:
            headers["Last-Event-ID"] = reconnects.last_id
        received = 0
        try:
            async with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(30.0, read=None)) as response:
                if response.status_code == 204:
                    log.info("the source ended the stream", extra=fields(source=url, status=204))
                    return
                if 400 <= response.status_code < 500:
                    raise SourceError(f"{url} answered HTTP {response.status_code}")
                response.raise_for_status()
                kind = response.headers.get("content-type", "").partition(";")[0].strip()
                if kind != "text/event-stream":
                    async for line in response.aiter_lines():
                        if line.strip():
                            yield RawEvent(line.strip())
                    return
                async for sse in EventSource(response).aiter_sse():
                    if sse.retry is not None:
                        delay = reconnects.delay_s = sse.retry / 1000
                    if sse.event not in SSE_TYPES or not sse.data.strip():
                        continue  # heartbeats, comments, other event types
                    reconnects.last_id = sse.id or reconnects.last_id
                    received += 1
                    yield RawEvent(sse.data, sse.id or None)
            why = "the server closed the stream"
        except (httpx.TransportError, httpx.HTTPStatusError, SSEError) as exc:
            why = f"{type(exc).__name__}: {exc}"[:200]
        if reconnects.limit is not None and reconnects.count >= reconnects.limit:
            log.warning("not reconnecting: limit reached", extra=fields(source=url, reason=why,
                                                                         reconnects=reconnects.count))
            return
        reconnects.count += 1
        delay = reconnects.delay_s if received else min(delay * 2, reconnects.max_delay_s)
        log.warning("stream interrupted; reconnecting", extra=fields(source=url, reason=why, after_s=delay,
                                                                     last_event_id=reconnects.last_id))
        await asyncio.sleep(delay)
