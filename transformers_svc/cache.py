"""The score cache: answers already given, by wiki, model, revision, model version and
whether features were asked for.

Embedded default: an in-process LRU with a TTL (cachetools). `--cache redis://HOST:PORT/DB`
shares one real Redis between all replicas and survives restarts. Errors that describe
the revision itself (RevisionNotFound, TextDeleted) are kept briefly (`cache_error_ttl`);
nothing else that failed is kept. The cache never fails a request: a Redis that is down
or slower than `cache_timeout` is skipped (a log line and `lwt_cache_total{outcome="error"}`),
and after a failure it is left alone for a few seconds before being tried again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

from exporters.contract.events import fields
from transformers_svc.errors import REVISION_ERRORS, ServiceError
from transformers_svc.metrics import CACHE
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.cache")
RETRY_AFTER_FAILURE_S = 5.0


@dataclass(frozen=True)
class ScoreKey:
    wiki: str
    model: str
    rev_id: int
    version: str
    features: bool = False

    def text(self) -> str:
        return f"lwt:score:{self.wiki}:{self.model}:{self.version}:{int(self.features)}:{self.rev_id}"


class ScoreCache:
    """`get_many` / `put_many` of ORES entries (`{"score": ...}` or `{"error": ...}`)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.kind = "none" if settings.cache == "none" else ("redis" if settings.cache.startswith("redis://")
                                                               else "memory")
        if self.kind == "memory":
            self._scores: TTLCache = TTLCache(settings.cache_size, settings.cache_ttl)
            self._errors: TTLCache = TTLCache(settings.cache_size, settings.cache_error_ttl)
        self._redis: aioredis.Redis | None = None
        self._down_until = 0.0

    @staticmethod
    def lasting(error: ServiceError) -> bool:
        return isinstance(error, REVISION_ERRORS)

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(self.settings.cache, socket_timeout=self.settings.cache_timeout,
                                                  socket_connect_timeout=self.settings.cache_timeout)
        return self._redis

    def _failed(self, what: str, exc: BaseException) -> None:
        CACHE.labels("error").inc()
        self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_S
        log.warning("score cache unavailable; scoring without it", extra=fields(
            operation=what, error=f"{type(exc).__name__}: {exc}"[:200], retry_in_s=RETRY_AFTER_FAILURE_S))

    async def get_many(self, keys: Sequence[ScoreKey]) -> dict[ScoreKey, dict[str, Any]]:
        if self.kind == "none" or not keys:
            return {}
        if self.kind == "memory":
            found = {k: v for k in keys if (v := self._scores.get(k) or self._errors.get(k)) is not None}
        else:
            if time.monotonic() < self._down_until:
                return {}
            try:
                raw = await asyncio.wait_for(self._client().mget([k.text() for k in keys]),
                                             self.settings.cache_timeout)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                self._failed("get", exc)
                return {}
            found = {k: entry for k, v in zip(keys, raw) if v is not None and (entry := _entry(v)) is not None}
        CACHE.labels("hit").inc(len(found))
        CACHE.labels("miss").inc(len(keys) - len(found))
        return found

    async def put_many(self, entries: Mapping[ScoreKey, dict[str, Any]],
                       errors: Mapping[ScoreKey, dict[str, Any]]) -> None:
        if self.kind == "none" or not (entries or errors):
            return
        if self.kind == "memory":
            for key, value in entries.items():
                self._scores[key] = value
            for key, value in errors.items():
                self._errors[key] = value
        else:
            if time.monotonic() < self._down_until:
                return
            try:
                pipe = self._client().pipeline(transaction=False)
                for group, ttl in ((entries, self.settings.cache_ttl), (errors, self.settings.cache_error_ttl)):
                    for key, value in group.items():
                        pipe.set(key.text(), json.dumps(value), ex=ttl)
                await asyncio.wait_for(pipe.execute(), self.settings.cache_timeout)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                self._failed("put", exc)
                return
        CACHE.labels("stored").inc(len(entries) + len(errors))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


def _entry(raw: bytes) -> dict[str, Any] | None:
    """A cached ORES entry, or None (a miss) for anything else a shared Redis may hold."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and ("score" in value or "error" in value) else None
