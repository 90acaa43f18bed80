"""Every tunable of the services, in one pydantic-settings class.

Each field can be set by an `LWT_<FIELD>` environment variable (e.g.
`LWT_MEDIAWIKI_TIMEOUT=2.5`) and overridden by the matching `lwt services` / `lwt serve`
flag (`--mediawiki-timeout 2.5`). Nothing else in the services reads the environment.
"""

from __future__ import annotations

from importlib import metadata
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

MEDIAWIKI_MAX_REV_ID = 2**32 - 1  # rev_id is an unsigned 32-bit column in MediaWiki's schema


def default_user_agent() -> str:
    """Wikimedia's API policy asks for a descriptive User-Agent with a contact."""
    return (f"liftwing-triton/{metadata.version('liftwing-triton')} "
            "(https://wikitech.wikimedia.org/wiki/Machine_Learning/LiftWing; ml-platform) aiohttp")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LWT_", extra="ignore")

    # MediaWiki: one deadline covers every call of a request, retries and back-off included.
    mediawiki_url: str | None = None  # one Action API for every wiki (default: derived per wiki)
    mediawiki_timeout: float = 5.0
    mediawiki_retries: int = 2
    mediawiki_backoff: float = 0.1  # first retry delay, doubled each time
    mediawiki_backoff_max: float = 1.0
    mediawiki_maxlag: int = 5
    mediawiki_connections: int = 32
    mediawiki_keepalive: float = 30.0
    user_agent: str = default_user_agent()
    # Triton: gRPC by default (KServe's REST client, httpx, answered 4x fewer langid requests/s).
    predictor_host: str = "127.0.0.1:8001"
    predictor_protocol: Literal["v2", "grpc-v2"] = "grpc-v2"
    predictor_timeout: int = 10
    # Requests.
    max_revisions: int = 50
    max_body_bytes: int = 1_000_000
    max_texts: int = 100
    max_text_chars: int = 10_000
    # article-descriptions generation: over a limit 400, or a bounded queue (then 503).
    descriptions_max_new_tokens: int = 32  # the model's own max_length applies when smaller
    descriptions_max_beams: int = 4
    descriptions_max_rows: int = 32  # sequences (beams of all requests) decoding at once
    descriptions_max_queue: int = 64  # requests waiting for rows
    descriptions_queue_timeout: float = 30.0  # seconds a request may wait for rows
    descriptions_max_source_tokens: int = 256
    descriptions_encode_batch: int = 8  # requests admitted together share one encoder call
    descriptions_disconnect_poll: float = 0.05  # seconds between checks that the client is still there
    # Serving.
    workers: int = 1
    text_cache_size: int = 256  # revisions whose text-derived datasources are kept (parents of the next)
    # Score cache: "memory" (in-process LRU), "none", or redis://HOST:PORT/DB shared by replicas.
    cache: str = "memory"
    cache_size: int = 100_000
    cache_ttl: int = 7 * 24 * 3600
    cache_error_ttl: int = 300  # RevisionNotFound / TextDeleted: answers that cannot change soon
    cache_timeout: float = 0.05  # a slow cache is skipped, never waited for
