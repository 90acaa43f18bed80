"""An async MediaWiki Action API client: one aiohttp session per process.

Bounded: every call has a total deadline; 5xx answers and connection errors are retried
with exponential backoff; `maxlag` is sent and honoured (Retry-After); a descriptive
User-Agent is sent as Wikimedia's API policy asks. API answers come back in
`formatversion=1`, the shape revscoring's `MWAPICache` expects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

import aiohttp

from transformers_svc.errors import (MediaWikiTimeout, MediaWikiUnavailable, PermissionDenied,
                                     ServiceError, TextDeleted)

log = logging.getLogger(__name__)

REV_PROPS = "ids|user|userid|timestamp|comment|content|flags|size|contentmodel"
USER_PROPS = "groups|registration|emailable|editcount|gender"
USER_AGENT = "liftwing-triton/0.1 (https://github.com/wikimedia; ML platform) aiohttp"


def api_url_for(wiki_db: str, override: str | None = None) -> str:
    """`enwiki` -> https://en.wikipedia.org/w/api.php, unless one URL serves every wiki."""
    if override:
        return override
    families = {"wiki": "wikipedia", "wiktionary": "wiktionary", "wikibooks": "wikibooks",
                "wikinews": "wikinews", "wikiquote": "wikiquote", "wikisource": "wikisource",
                "wikiversity": "wikiversity", "wikivoyage": "wikivoyage"}
    special = {"wikidatawiki": "www.wikidata.org", "commonswiki": "commons.wikimedia.org",
               "metawiki": "meta.wikimedia.org"}
    if wiki_db in special:
        return f"https://{special[wiki_db]}/w/api.php"
    for suffix in sorted(families, key=len, reverse=True):
        if wiki_db.endswith(suffix):
            lang = wiki_db[: -len(suffix)].replace("_", "-")
            return f"https://{lang}.{families[suffix]}.org/w/api.php"
    raise ValueError(f"cannot derive an API URL for wiki {wiki_db!r}")


class MediaWikiClient:
    def __init__(self, api_url: str, timeout: float = 5.0, retries: int = 2, maxlag: int = 5,
                 user_agent: str = USER_AGENT) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.retries = retries
        self.maxlag = maxlag
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.user_agent},
                connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=30),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, **params: Any) -> dict[str, Any]:
        """One API call within `timeout` seconds in all, retries included."""
        query = {"format": "json", "maxlag": str(self.maxlag), **{k: _flat(v) for k, v in params.items()}}
        try:
            return await asyncio.wait_for(self._get_with_retries(query), timeout=self.timeout)
        except asyncio.TimeoutError as exc:
            raise MediaWikiTimeout(f"MediaWiki API at {self.api_url} did not answer within {self.timeout:g} s") from exc

    async def _get_with_retries(self, query: dict[str, str]) -> dict[str, Any]:
        delay = 0.1
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                async with self.session().get(self.api_url, params=query) as response:
                    if response.status >= 500:
                        raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                    doc = await response.json(content_type=None)
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, aiohttp.ContentTypeError) as exc:
                if last:
                    raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} unavailable: {_describe(exc)}") from exc
                await asyncio.sleep(delay)
                delay *= 2
                continue
            error = doc.get("error") if isinstance(doc, dict) else None
            if error and error.get("code") == "maxlag" and not last:
                await asyncio.sleep(min(float(retry_after or 1), 2.0))
                continue
            if error:
                raise _api_error(error)
            return doc
        raise MediaWikiUnavailable(f"MediaWiki API at {self.api_url} kept answering maxlag")

    async def revisions(self, rev_ids: Iterable[int], users: Iterable[str] = ()) -> dict[str, Any]:
        """Revisions with content, and (in the same call) users' info."""
        params: dict[str, Any] = {"action": "query", "prop": "revisions", "revids": list(rev_ids),
                                  "rvprop": REV_PROPS, "rvslots": "main"}
        users = sorted(set(users))
        if users:
            params.update({"list": "users", "ususers": users, "usprop": USER_PROPS})
        return await self.get(**params)

    async def page_creation(self, page_id: int) -> dict[str, Any]:
        return await self.get(action="query", prop="revisions", pageids=page_id, rvdir="newer", rvlimit=1,
                              rvprop="ids|user|userid|timestamp|comment|flags|size|contentmodel")

    async def user_last_revision(self, user: str, before: str) -> dict[str, Any]:
        return await self.get(action="query", list="usercontribs", ucuser=user, uclimit=1, ucdir="older",
                              ucstart=before, ucprop="ids|timestamp|comment|size")


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


def _describe(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _api_error(error: dict[str, Any]) -> ServiceError:
    code, info = error.get("code", ""), error.get("info", "")
    if code in ("permissiondenied", "readapidenied", "blocked") or "permission" in code:
        return PermissionDenied(f"MediaWiki API refused: {code}: {info}")
    return MediaWikiUnavailable(f"MediaWiki API error {code}: {info}")
