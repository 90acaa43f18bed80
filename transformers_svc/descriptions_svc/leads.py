"""What article-descriptions reads from MediaWiki: a page's lead paragraph, its
interlanguage links and whether it is about a living person; then the linked pages' leads.

One Action API call for the page (content, langlinks and the "Living people" category
together, redirects followed), then one call per other wiki for the linked pages (on the
local setup every language's pages live in the one fixture wiki, so one call in all). The
lead is the first paragraph before the first heading, wikitext stripped with
mwparserfromhell: templates, references, files, categories, interlanguage links and tables
removed, links reduced to their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import mwparserfromhell
from mwparserfromhell.nodes import Comment, Heading, Template, Wikilink

from transformers_svc.errors import BadRequest, MediaWikiUnavailable, PageNotFound
from transformers_svc.mediawiki.client import MediaWikiClient

LIVING_PEOPLE = "Category:Living people"
_HIDDEN_LINKS = re.compile(r"^\s*:?\s*(file|image|media|category|[a-z]{2,3}(-[a-z]+)?)\s*:", re.IGNORECASE)
_HIDDEN_TAGS = {"ref", "references", "gallery", "table", "math", "score", "timeline", "templatedata"}
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;]?\s*\)")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?])")


@dataclass
class Page:
    title: str  # after normalisation and redirects
    lead: str
    blp: bool
    langlinks: dict[str, str] = field(default_factory=dict)  # language -> title on that wiki


def lead_paragraph(wikitext: str) -> str:
    """The first paragraph of the text before the first heading, as plain text."""
    code = mwparserfromhell.parse(wikitext)
    lead = mwparserfromhell.parse("")
    for node in code.nodes:
        if isinstance(node, Heading):
            break
        lead.append(node)
    for node in lead.filter(recursive=False):
        if isinstance(node, (Template, Comment)) or (isinstance(node, Wikilink) and _HIDDEN_LINKS.match(str(node.title))):
            lead.remove(node)
    for tag in lead.filter_tags(recursive=True):
        if str(tag.tag).strip().lower() in _HIDDEN_TAGS:
            try:
                lead.remove(tag)
            except ValueError:  # inside a tag removed already
                continue
    text = lead.strip_code(normalize=True, collapse=True)
    for paragraph in re.split(r"\n\s*\n", text):
        cleaned = " ".join(paragraph.split())
        cleaned = _SPACE_BEFORE.sub(r"\1", _EMPTY_BRACKETS.sub("", cleaned)).strip()
        cleaned = " ".join(cleaned.split())
        if cleaned:
            return cleaned
    return ""


def _pages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pages = doc.get("query", {}).get("pages", {})
    return list(pages.values()) if isinstance(pages, dict) else list(pages)


def _content(page: dict[str, Any]) -> str:
    revisions = page.get("revisions") or [{}]
    main = revisions[0].get("slots", {}).get("main", {})
    return str(main.get("*", "")) if "texthidden" not in main else ""


async def fetch_page(client: MediaWikiClient, title: str) -> Page:
    """The page, its lead, langlinks and BLP flag; PageNotFound when it does not exist."""
    doc = await client.get(action="query", titles=title, prop="revisions|langlinks|categories",
                           rvprop="content", rvslots="main", lllimit="max", clcategories=LIVING_PEOPLE,
                           cllimit="max", redirects="1")
    pages = _pages(doc)
    if not pages:
        raise MediaWikiUnavailable(f"MediaWiki API at {client.api_url} answered no page for {title!r}")
    page = pages[0]
    if "invalid" in page:
        raise BadRequest(f"{title!r} is not a valid page title ({page.get('invalidreason', 'invalid')})")
    if "missing" in page or "revisions" not in page:
        raise PageNotFound(f"no page {title!r} on {client.api_url}")
    links = {str(link["lang"]): str(link.get("*", link.get("title", ""))) for link in page.get("langlinks") or []}
    categories = {str(c.get("title")) for c in page.get("categories") or []}
    return Page(str(page.get("title", title)), lead_paragraph(_content(page)), LIVING_PEOPLE in categories, links)


async def fetch_leads(clients: Callable[[str], MediaWikiClient], links: Mapping[str, str]) -> dict[str, str]:
    """Leads of the linked pages (language -> lead), one call per wiki; missing pages are skipped."""
    by_client: dict[str, tuple[MediaWikiClient, dict[str, str]]] = {}
    for lang, title in links.items():
        client = clients(f"{lang.replace('-', '_')}wiki")
        by_client.setdefault(client.api_url, (client, {}))[1][lang] = title
    leads: dict[str, str] = {}
    for client, wanted in by_client.values():
        titles = sorted(set(wanted.values()))
        for start in range(0, len(titles), 50):  # the API's limit of titles per call
            chunk = titles[start: start + 50]
            doc = await client.get(action="query", titles=chunk, prop="revisions", rvprop="content",
                                   rvslots="main", redirects="1")
            query = doc.get("query", {})
            moved = {m["from"]: m["to"] for key in ("normalized", "redirects") for m in query.get(key, [])}
            found = {str(p.get("title")): _content(p) for p in _pages(doc) if "missing" not in p and "invalid" not in p}
            for lang, title in wanted.items():
                if title not in chunk:
                    continue
                final = moved.get(moved.get(title, title), moved.get(title, title))
                lead = lead_paragraph(found.get(final, ""))
                if lead:
                    leads[lang] = lead
    return leads
