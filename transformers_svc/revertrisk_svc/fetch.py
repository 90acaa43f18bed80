"""Everything the language-agnostic features need for a batch, in at most three MediaWiki
calls whatever the batch's size:

1. `prop=revisions|cirrusdoc&revids=...` (content, size, flags, comment, tags) and, on the
   first batch of a wiki, `meta=siteinfo` (its namespace names, then kept). On a wiki
   with CirrusSearch (Wikimedia's), `cirrusdoc`'s `create_timestamp` dates every page of
   the batch in this same call; MediaWiki without it warns about the unknown value and
   answers the rest, and is not asked again (a warning costs it a message lookup).
2. The parents' revisions and the editors' `list=users` entries, in one call.
3. Only for pages still undated (no CirrusSearch, not created by the scored revision, no
   parent that is the page's first revision, not in the cache): one POST to
   `Special:Export` with `limit=1`, which gives every listed page's oldest revision
   (`WikiExporter` applies the limit per page). The Action API cannot: `rvdir=newer`
   works on one page per request (`apierror-revisions-singlepage`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import aiohttp
from cachetools import LRUCache

from exporters.revertrisk.features import NamespaceNames
from transformers_svc.errors import MediaWikiUnavailable, RevisionNotFound, ServiceError, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient
from transformers_svc.mediawiki.revisions import text_problem

REV_PROPS = "ids|user|userid|timestamp|comment|content|flags|size|contentmodel|tags"
EXPORT_NS = "{http://www.mediawiki.org/xml/export-0.11/}"
MAX_CALLS = 3


@dataclass
class Edits:
    """A batch's API documents (formatversion=1) and its per-revision errors."""

    pages: dict[int, dict] = field(default_factory=dict)  # rev_id -> page doc with that one revision
    parents: dict[int, dict] = field(default_factory=dict)  # parent rev_id -> page doc
    users: dict[str, dict] = field(default_factory=dict)  # user name -> list=users entry
    created: dict[int, str] = field(default_factory=dict)  # page id -> its first revision's timestamp
    errors: dict[int, ServiceError] = field(default_factory=dict)
    names: NamespaceNames = NamespaceNames()
    calls: int = 0

    def revision(self, rev_id: int) -> dict:
        return self.pages[rev_id]["revisions"][0]

    def parent_page(self, rev_id: int) -> dict | None:
        return self.parents.get(int(self.revision(rev_id).get("parentid", 0) or 0))

    def user(self, rev_id: int) -> dict | None:
        return self.users.get(self.revision(rev_id).get("user", ""))

    def page_created(self, rev_id: int) -> str | None:
        return self.created.get(int(self.pages[rev_id]["pageid"]))


def split_pages(doc: dict) -> tuple[dict[int, dict], set[int]]:
    """`query.pages` -> {rev_id: page doc with that one revision}, and the bad revision ids."""
    pages: dict[int, dict] = {}
    for page in doc.get("query", {}).get("pages", {}).values():
        meta = {k: v for k, v in page.items() if k not in ("revisions", "cirrusdoc")}
        for revision in page.get("revisions", []):
            pages[int(revision["revid"])] = {**meta, "revisions": [revision]}
    bad = {int(r["revid"]) for r in doc.get("query", {}).get("badrevids", {}).values()}
    return pages, bad


def api_timestamp(value: Any) -> str | None:
    """A timestamp in the API's `2024-03-01T10:00:00Z` form (CirrusSearch may add an offset)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cirrus_creations(doc: dict) -> dict[int, str]:
    """page id -> `create_timestamp` of CirrusSearch's page document (the page's oldest revision)."""
    out: dict[int, str] = {}
    for page in doc.get("query", {}).get("pages", {}).values():
        for cirrus in page.get("cirrusdoc") or []:
            stamp = api_timestamp((cirrus.get("source") or {}).get("create_timestamp"))
            if stamp and "pageid" in page:
                out[int(page["pageid"])] = stamp
                break
    return out


def export_creations(xml: bytes) -> dict[int, str]:
    """page id -> the first revision's timestamp, from a `Special:Export` answer with limit=1."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise MediaWikiUnavailable(f"Special:Export answered something that is not an XML export ({exc})") from None
    out: dict[int, str] = {}
    for page in root.iter(EXPORT_NS + "page"):
        page_id, revision = page.find(EXPORT_NS + "id"), page.find(EXPORT_NS + "revision")
        stamp = revision.find(EXPORT_NS + "timestamp") if revision is not None else None
        if page_id is not None and page_id.text and stamp is not None and api_timestamp(stamp.text):
            out[int(page_id.text)] = api_timestamp(stamp.text)  # type: ignore[assignment]
    return out


def index_url(api_url: str) -> str:
    """`.../api.php` -> `.../index.php` (the same wiki's entry point for special pages)."""
    base, _, _ = api_url.rpartition("/")
    return f"{base}/index.php"


class EditFetcher:
    """The three-call fetch, with what does not change kept across batches: each wiki's
    namespace names and page creation times (a page's first revision only changes by a
    history merge or an import)."""

    def __init__(self, cache_size: int = 100_000) -> None:
        self.namespaces: dict[str, NamespaceNames] = {}
        self.cirrus: dict[str, bool] = {}  # api url -> whether prop=cirrusdoc is known there
        self.creations: LRUCache = LRUCache(maxsize=cache_size)

    async def fetch(self, client: MediaWikiClient, rev_ids: Sequence[int]) -> Edits:
        edits = Edits()
        known_names = self.namespaces.get(client.api_url)
        params: dict[str, Any] = {"action": "query", "prop": "revisions", "revids": list(rev_ids),
                                  "rvprop": REV_PROPS, "rvslots": "main"}
        if self.cirrus.get(client.api_url, True):
            params.update(prop="revisions|cirrusdoc", cdincludes="create_timestamp")
        if known_names is None:
            params.update(meta="siteinfo", siprop="namespaces|namespacealiases")
        first = await client.get(**params)
        edits.calls += 1
        if client.api_url not in self.cirrus:
            self.cirrus[client.api_url] = "cirrusdoc" not in json.dumps(first.get("warnings", {}))
        if known_names is None:
            known_names = self.namespaces[client.api_url] = NamespaceNames.from_siteinfo(first)
        edits.names = known_names
        pages, bad = split_pages(first)
        for rev_id in rev_ids:
            if rev_id in bad or rev_id not in pages:
                edits.errors[rev_id] = RevisionNotFound(f"revision {rev_id} does not exist")
            elif (problem := text_problem(rev_id, pages[rev_id])) is not None:
                edits.errors[rev_id] = problem
            else:
                edits.pages[rev_id] = pages[rev_id]
        edits.created.update(cirrus_creations(first))
        await self._parents_and_users(client, edits)
        await self._creations(client, edits)
        return edits

    async def _parents_and_users(self, client: MediaWikiClient, edits: Edits) -> None:
        revisions = [p["revisions"][0] for p in edits.pages.values()]
        parents = sorted({int(r.get("parentid", 0) or 0) for r in revisions} - {0})
        users = sorted({r["user"] for r in revisions if int(r.get("userid", 0) or 0) and "user" in r})
        if not parents and not users:
            return
        second = await (client.revisions(parents, users) if parents else client.users(users))
        edits.calls += 1
        edits.parents, _ = split_pages(second)
        for user in second.get("query", {}).get("users", []):
            if "missing" not in user and "invalid" not in user:
                edits.users[user["name"]] = user
        for rev_id in list(edits.pages):
            parent = edits.parent_page(rev_id)
            if parent is not None and (problem := text_problem(int(parent["revisions"][0]["revid"]), parent)) is not None:
                edits.errors[rev_id] = TextDeleted(f"the text of revision {rev_id}'s parent is deleted or hidden "
                                                   f"({problem.message})")
                del edits.pages[rev_id]

    async def _creations(self, client: MediaWikiClient, edits: Edits) -> None:
        """Date every page of the batch that is not a creation; one Special:Export call at most."""
        wanted: dict[int, str] = {}
        for page in [*edits.pages.values(), *edits.parents.values()]:  # a page's first revision, seen in the batch
            if int(page["revisions"][0].get("parentid", 0) or 0) == 0:
                edits.created.setdefault(int(page["pageid"]), page["revisions"][0]["timestamp"])
        for rev_id, page in edits.pages.items():
            page_id = int(page["pageid"])
            key = (client.api_url, page_id)
            if page_id in edits.created:
                self.creations[key] = edits.created[page_id]
            elif int(page["revisions"][0].get("parentid", 0) or 0) == 0:
                continue  # the scored revision creates the page
            elif key in self.creations:
                edits.created[page_id] = self.creations[key]
            else:
                wanted[page_id] = page["title"]
        if not wanted:
            return
        found = export_creations(await post_export(client, sorted(set(wanted.values()))))
        edits.calls += 1
        for page_id, stamp in found.items():
            if page_id in wanted:
                edits.created[page_id] = self.creations[(client.api_url, page_id)] = stamp


async def post_export(client: MediaWikiClient, titles: Sequence[str]) -> bytes:
    """`Special:Export` of `titles` with `limit=1`: each page's oldest revision. A POST (the
    special page takes `limit` only from a posted form), on the client's session."""
    client.calls += 1
    form = {"title": "Special:Export", "pages": "\n".join(titles), "limit": "1"}
    try:
        async with client.session().post(index_url(client.api_url), data=form, allow_redirects=False) as response:
            if response.status != 200:
                raise MediaWikiUnavailable(f"Special:Export at {index_url(client.api_url)} answered HTTP {response.status}")
            return await response.read()
    except aiohttp.ClientError as exc:
        raise MediaWikiUnavailable(f"Special:Export at {index_url(client.api_url)} unreachable: "
                                   f"{type(exc).__name__}") from None

