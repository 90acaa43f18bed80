"""An async MediaWiki Action API client: one aiohttp session per process.

Bounded: the caller wraps all calls of one request in one deadline (`deadline`); 5xx
answers and connection errors are retried with exponential back-off by tenacity;
`maxlag` is sent and honoured (Retry-After); redirects are not followed (an API that
answers with a redirect is reported, never chased to another host); a descriptive
User-Agent is sent as Wikimedia's API policy asks. Answers come back in
`formatversion=1`, the shape revscoring's `MWAPICache` expects.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from transformers_svc.errors import (MediaWikiTimeout, MediaWikiUnavailable, PermissionDenied, ServiceError,
                                     TextDeleted)
from transformers_svc.settings import ServiceSettings

REV_PROPS = "ids|user|userid|timestamp|comment|content|flags|size|contentmodel"
USER_PROPS = "groups|registration|emailable|editcount|gender"
_FAMILIES = {"wiki": "wikipedia", "wiktionary": "wiktionary", "wikibooks": "wikibooks", "wikinews": "wikinews",
             "wikiquote": "wikiquote", "wikisource": "wikisource", "wikiversity": "wikiversity",
             "wikivoyage": "wikivoyage"}
_SPECIAL = {"wikidatawiki": "www.wikidata.org", "commonswiki": "commons.wikimedia.org",
            "metawiki": "meta.wikimedia.org"}


def api_url_for(wiki_db: str, override: str | None = None) -> str:
    """`enwiki` -> https://en.wikipedia.org/w/api.php, unless one URL serves every wiki."""
    if override:
        return override
    if wiki_db in _SPECIAL:
        return f"https://{_SPECIAL[wiki_db]}/w/api.php"
    for suffix in sorted(_FAMILIES, key=len, reverse=True):
        if wiki_db.endswith(suffix) and len(wiki_db) > len(suffix):
            lang = wiki_db[: -len(suffix)].replace("_", "-")
            return f"https://{lang}.{_FAMILIES[suffix]}.org/w/api.php"
    raise ValueError(f"cannot derive an API URL for wiki {wiki_db!r}")


class _Retryable(Exception):
    """A 5xx answer, a connection error or maxlag: worth another try after a pause."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@asynccontextmanager
async def deadline(seconds: float, what: str) -> AsyncIterator[None]:
    """One deadline for every MediaWiki call of a request, retries and pauses included."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise MediaWikiTimeout(f"{what} did not answer within {seconds:g} s") from None


class MediaWikiClient:
    def __init__(self, api_url: str, settings: ServiceSettings) -> None:
        self.api_url = api_url
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self.calls = 0  # API calls made (tests and benchmarks count them)

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.settings.user_agent},
                connector=aiohttp.TCPConnector(limit=self.settings.mediawiki_connections,
                                               keepalive_timeout=self.settings.mediawiki_keepalive),
                timeout=aiohttp.ClientTimeout(total=self.settings.mediawiki_timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, **params: Any) -> dict[str, Any]:
        """One API call (retried on 5xx, connection errors and maxlag)."""
        query = {"format": "json", "maxlag": str(self.settings.mediawiki_maxlag),
                 **{k: _flat(v) for k, v in params.items()}}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.mediawiki_retries + 1),
            wait=_wait(self.settings),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get_once(query)
        except _Retryable as exc:
            raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} unavailable: {exc}") from None
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _get_once(self, query: dict[str, str]) -> dict[str, Any]:
        self.calls += 1
        try:
            async with self.session().get(self.api_url, params=query, allow_redirects=False) as response:
                if response.status >= 500:
                    raise _Retryable(f"HTTP {response.status}")
                if 300 <= response.status < 400:
                    raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} answered with a redirect to "
                                               f"{response.headers.get('Location', '?')} (not followed)")
                if response.status >= 400:
                    raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} answered HTTP {response.status}")
                doc = await response.json(content_type=None)
                retry_after = response.headers.get("Retry-After")
        except aiohttp.ClientConnectionError as exc:
            raise _Retryable(type(exc).__name__) from None
        except (aiohttp.ContentTypeError, ValueError) as exc:
            raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} answered something that is not JSON "
                                       f"({type(exc).__name__})") from None
        error = doc.get("error") if isinstance(doc, dict) else None
        if error and error.get("code") == "maxlag":
            raise _Retryable("maxlag", float(retry_after or 1))
        if error:
            raise _api_error(error)
        if not isinstance(doc, dict):
            raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} answered an unexpected document")
        return doc

    async def revisions(self, rev_ids: Iterable[int], users: Iterable[str] = ()) -> dict[str, Any]:
        """Revisions with content, and (in the same call) users' info."""
        params: dict[str, Any] = {"action": "query", "prop": "revisions", "revids": list(rev_ids),
                                  "rvprop": REV_PROPS, "rvslots": "main"}
        users = sorted(set(users))
        if users:
            params.update({"list": "users", "ususers": users, "usprop": USER_PROPS})
        return await self.get(**params)

    async def users(self, names: Iterable[str]) -> dict[str, Any]:
        return await self.get(action="query", list="users", ususers=sorted(set(names)), usprop=USER_PROPS)


def _wait(settings: ServiceSettings) -> Any:
    """Exponential back-off from `mediawiki_backoff`, or the server's Retry-After for maxlag."""
    exponential = wait_exponential(multiplier=settings.mediawiki_backoff, min=settings.mediawiki_backoff,
                                   max=settings.mediawiki_backoff_max)

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, settings.mediawiki_backoff_max * 2)
        return exponential(state)

    return wait


def main_text(page: dict[str, Any], rev_id: int) -> str:
    """The main slot's wikitext of a page doc's (only) revision; TextDeleted when the API
    withholds it (revision deletion: `texthidden`; or no content at all)."""
    revision = page["revisions"][0]
    main = revision.get("slots", {}).get("main", {})
    if "texthidden" in main or "texthidden" in revision or "textmissing" in main or "*" not in main:
        raise TextDeleted(f"the text of revision {rev_id} is deleted or hidden")
    return main["*"]


def _flat(value: Any) -> str:
    if isinstance(value, (list, tuple, set)):
        return "|".join(str(v) for v in value)
    return str(value)


def _api_error(error: dict[str, Any]) -> ServiceError:
    code, info = str(error.get("code", "")), str(error.get("info", ""))
    if code in ("permissiondenied", "readapidenied", "blocked") or "permission" in code:
        return PermissionDenied(f"MediaWiki API refused: {code}: {info}")
    return MediaWikiUnavailable(f"MediaWiki API error {code}: {info}")
