"""Every main-namespace page of a wiki as the text its embedding is made of: the title and
the lead paragraph, wikitext stripped with mwparserfromhell.

Pages come from the Action API in batches (`generator=allpages` with the latest
revision's content, 50 pages a call, following `continue`), through the services' own
`MediaWikiClient` (timeouts, retries, maxlag, User-Agent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, AsyncIterator

import mwparserfromhell
from mwparserfromhell.nodes import Tag, Template, Wikilink

from transformers_svc.mediawiki.client import MediaWikiClient

BATCH = 50  # the API's most pages per call with revision content
# Markup whose text is not prose: references, tables, galleries; links to files and categories.
_DROPPED_TAGS = {"ref", "references", "table", "gallery", "math", "score", "timeline"}
_DROPPED_LINKS = ("file:", "image:", "category:", "media:")
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Page:
    page_id: int
    title: str
    text: str  # what is embedded: the title, then the lead paragraph


def lead_paragraph(wikitext: str) -> str:
    """The first paragraph of prose before the first heading ("" when there is none)."""
    code = mwparserfromhell.parse(wikitext)
    sections = code.get_sections(include_lead=True, flat=True)
    lead = sections[0] if sections else code
    if lead.filter_headings(recursive=False):  # the page starts with a heading: no lead
        return ""
    for node in list(lead.nodes):
        if isinstance(node, Template) or (isinstance(node, Tag) and str(node.tag).strip().lower() in _DROPPED_TAGS) \
                or (isinstance(node, Wikilink) and str(node.title).strip().lower().startswith(_DROPPED_LINKS)):
            lead.remove(node)
    text = lead.strip_code(normalize=True, collapse=True)
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPH.split(text)]
    return next((p for p in paragraphs if p), "")


def page_text(title: str, wikitext: str) -> str:
    lead = lead_paragraph(wikitext)
    return f"{title}\n{lead}" if lead else title


def _content(page: dict[str, Any]) -> str | None:
    revisions = page.get("revisions") or []
    if not revisions:
        return None
    main = revisions[0].get("slots", {}).get("main", {})
    return main.get("*") if isinstance(main.get("*"), str) else ""


async def main_namespace_pages(client: MediaWikiClient) -> AsyncIterator[Page]:
    """Every non-redirect page of namespace 0 with its text, in the API's (title) order."""
    params: dict[str, Any] = {"action": "query", "generator": "allpages", "gapnamespace": 0,
                              "gapfilterredir": "nonredirects", "gaplimit": BATCH, "prop": "revisions",
                              "rvprop": "content", "rvslots": "main"}
    cont: dict[str, Any] = {}
    waiting: dict[int, str] = {}  # pages whose content a later `continue` brings (rvcontinue)
    while True:
        doc = await client.get(**params, **cont)
        pages = sorted(doc.get("query", {}).get("pages", {}).values(), key=lambda p: str(p.get("title", "")))
        for page in pages:
            if "missing" in page or "invalid" in page or int(page.get("ns", -1)) != 0:
                continue
            page_id, title, content = int(page["pageid"]), str(page["title"]), _content(page)
            if content is None:
                waiting[page_id] = title
                continue
            waiting.pop(page_id, None)
            yield Page(page_id, title, page_text(title, content))
        cont = doc.get("continue") or {}
        if not cont:
            break
    for page_id, title in sorted(waiting.items(), key=lambda item: item[1]):  # content withheld: the title alone
        yield Page(page_id, title, title)
