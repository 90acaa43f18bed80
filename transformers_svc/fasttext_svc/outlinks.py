"""An article's outlinks as Wikidata ids, from the MediaWiki Action API (as Lift Wing asks).

The page now: `generator=links` over the page's main-namespace links with
`prop=pageprops&ppprop=wikibase_item`, following `continue`. A revision
(`revision_id`): `action=parse&oldid=...&prop=links` for the links of that revision (only
existing main-namespace pages), then their Wikidata ids by 50 titles per call. Either way
at most `MAX_IDS` ids, each once, in the API's order (Lift Wing keeps a set, whose order
changes from process to process; the order moves fastText's float sums by an ulp). Links to
pages without a Wikidata item, red links and links to other namespaces add nothing.
The caller holds one deadline over all of these calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from transformers_svc.errors import BadRequest, PageNotFound, PermissionDenied, RevisionNotFound, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient

MAX_IDS = 1000  # Lift Wing's limit
TITLES_PER_CALL = 50  # the API's limit of titles per query (without apihighlimits)
_QID = re.compile(r"^Q[1-9][0-9]{0,11}$")


@dataclass(frozen=True)
class Page:
    page_id: int
    title: str


def _pages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pages = doc.get("query", {}).get("pages", [])
    return pages if isinstance(pages, list) else []


def _add_ids(pages: Iterable[dict[str, Any]], found: dict[str, None]) -> bool:
    """Add each page's Wikidata id; True once MAX_IDS are found."""
    for page in pages:
        if page.get("ns") != 0 or "missing" in page:
            continue
        qid = (page.get("pageprops") or {}).get("wikibase_item")
        if isinstance(qid, str) and _QID.fullmatch(qid):
            found[qid] = None
            if len(found) >= MAX_IDS:
                return True
    return False


async def resolve_page(client: MediaWikiClient, title: str | None = None, page_id: int | None = None) -> Page:
    """The page a request names (redirects followed); 404 when there is none."""
    by = {"titles": title} if title is not None else {"pageids": page_id}
    pages = _pages(await client.get(action="query", redirects=1, formatversion=2, **by))
    named = f"page {title!r}" if title is not None else f"page id {page_id}"
    if not pages or "missing" in pages[0]:
        raise PageNotFound(f"{named} does not exist")
    if "invalid" in pages[0] or "pageid" not in pages[0]:
        raise BadRequest(f"{named} is not a valid page title")
    return Page(int(pages[0]["pageid"]), str(pages[0]["title"]))


async def page_outlinks(client: MediaWikiClient, page: Page) -> list[str]:
    params: dict[str, Any] = {"action": "query", "generator": "links", "pageids": page.page_id, "gplnamespace": 0,
                              "gpllimit": "max", "prop": "pageprops", "ppprop": "wikibase_item", "redirects": 1,
                              "formatversion": 2}
    found: dict[str, None] = {}
    while True:
        doc = await client.get(**params)
        if _add_ids(_pages(doc), found):
            break
        more = doc.get("continue")
        if not isinstance(more, dict) or not more:
            break
        params.update({str(k): str(v) for k, v in more.items()})
    return list(found)[:MAX_IDS]


async def revision_outlinks(client: MediaWikiClient, page: Page, revision_id: int) -> list[str]:
    info = await client.get(action="query", revids=revision_id, prop="info", formatversion=2)
    owners = _pages(info)
    if info.get("query", {}).get("badrevids") or not owners:
        raise RevisionNotFound(f"revision {revision_id} does not exist")
    if int(owners[0].get("pageid", -1)) != page.page_id:
        raise BadRequest(f"revision {revision_id} is a revision of {owners[0].get('title')!r}, not of {page.title!r}")
    try:
        parsed = await client.get(action="parse", oldid=revision_id, prop="links", formatversion=2)
    except PermissionDenied:
        raise TextDeleted(f"the text of revision {revision_id} is deleted or hidden") from None
    links = parsed.get("parse", {}).get("links", [])
    titles = list(dict.fromkeys(link["title"] for link in links
                                if isinstance(link, dict) and link.get("ns") == 0 and link.get("exists")))
    found: dict[str, None] = {}
    for start in range(0, len(titles), TITLES_PER_CALL):
        doc = await client.get(action="query", titles=titles[start:start + TITLES_PER_CALL], prop="pageprops",
                               ppprop="wikibase_item", redirects=1, formatversion=2)
        if _add_ids(_pages(doc), found):
            break
    return list(found)[:MAX_IDS]
