"""revertrisk-language-agnostic's features: a pure function of Action API documents.

Training (`exporters.shipped.revertrisk_la`, from a dump) and serving
(`transformers_svc.revertrisk_svc`, from the API) both call `revision_features`, so the
model is served with exactly the features it was trained on; the model card lists
`FEATURE_NAMES` in order and the service refuses a card that lists anything else.

Families as in Lift Wing's model (Wikimedia Research's `knowledge_integrity`, whose source
is not public here): wikitext structure counts of the revision and its parent and their
differences (mwparserfromhell), the editor, the page and the edit. Names follow Research's
public multilingual revert-risk code where it shows them (`revision_text_bytes_diff`,
`user_is_anonymous`, `is_<group>`, `is_<tag>`); the others are ours. Missing values (a
hidden comment or editor, an unknown registration or page creation) are -1, the
convention of that code (`fillna(-1)`). Nothing depends on a language: link prefixes
come from the wiki's own namespace names (`NamespaceNames.from_siteinfo`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import mwparserfromhell

MISSING = -1.0
STRUCTURES = ("wikilinks", "external_links", "references", "templates", "categories", "media",
              "headings", "tables", "words", "chars")
# Groups and change tags of Research's multilingual revert-risk training code (plus bot).
USER_GROUPS = ("editor", "trusted", "ipblock-exempt", "interface-admin", "sysop", "autoreview", "bureaucrat",
               "autopatrolled", "patroller", "rollbacker", "reviewer", "extendedconfirmed", "templateeditor",
               "uploader", "autoreviewer", "suppressredirect", "bot")
TAGS = ("mobile edit", "mobile web edit", "visualeditor", "wikieditor", "mobile app edit", "android app edit",
        "ios app edit")

FEATURE_NAMES: tuple[str, ...] = (
    *(f"revision_{s}" for s in STRUCTURES),
    *(f"parent_{s}" for s in STRUCTURES),
    *(f"{s}_diff" for s in STRUCTURES),
    "revision_text_bytes", "revision_text_bytes_diff",
    "user_is_anonymous", "user_is_temporary", "user_age_seconds", "user_edit_count",
    *(f"is_{g}" for g in USER_GROUPS),
    "page_namespace", "page_is_creation", "page_age_seconds", "page_title_length",
    "revision_comment_length", "revision_is_section_edit", "revision_minor_edit", "revision_seconds_since_parent",
    *(f"is_{t.replace(' ', '_')}" for t in TAGS),
)

_WORD = re.compile(r"\w+")
_SECTION_EDIT = re.compile(r"\s*/\*.*?\*/")


class HiddenText(ValueError):
    """The revision's or its parent's text is deleted or suppressed: no features."""


@dataclass(frozen=True)
class NamespaceNames:
    """Link prefixes that make `[[X:...]]` a category or a file. English canonical names by
    default; a wiki's own names and aliases come from `meta=siteinfo&siprop=namespaces|namespacealiases`."""

    category: frozenset[str] = frozenset({"category"})
    file: frozenset[str] = frozenset({"file", "image", "media"})

    @classmethod
    def from_siteinfo(cls, doc: Mapping[str, Any]) -> "NamespaceNames":
        """formatversion=1 siteinfo: `namespaces` {id: {"*", "canonical"}}, `namespacealiases` [{"id", "*"}]."""
        names: dict[int, set[str]] = {6: {"file", "image"}, -2: {"media"}, 14: {"category"}}
        query = doc.get("query", doc)
        for ns in query.get("namespaces", {}).values():
            if int(ns.get("id", 0)) in names:
                names[int(ns["id"])].update(_norm(ns.get(k)) for k in ("*", "name", "canonical") if ns.get(k))
        for alias in query.get("namespacealiases", []):
            if int(alias.get("id", 0)) in names and alias.get("*"):
                names[int(alias["id"])].add(_norm(alias["*"]))
        return cls(category=frozenset(names[14]), file=frozenset(names[6] | names[-2]))


def _norm(name: Any) -> str:
    return str(name).strip().lower().replace("_", " ")


def _prefix(title: str) -> str | None:
    title = title.strip()
    if title.startswith(":"):  # [[:Category:X]] links to the category, it does not categorise
        return None
    head, sep, _ = title.partition(":")
    return _norm(head) if sep else None


def wikitext_counts(text: str, names: NamespaceNames = NamespaceNames()) -> dict[str, float]:
    """Structure counts of one wikitext, nested nodes included (a link in a file caption,
    a template in a <ref>)."""
    code = mwparserfromhell.parse(text or "")
    counts = dict.fromkeys(STRUCTURES, 0.0)
    for link in code.filter_wikilinks(recursive=True):
        prefix = _prefix(str(link.title))
        key = "categories" if prefix in names.category else "media" if prefix in names.file else "wikilinks"
        counts[key] += 1
    counts["external_links"] = float(len(code.filter_external_links(recursive=True)))
    counts["templates"] = float(len(code.filter_templates(recursive=True)))
    counts["headings"] = float(len(code.filter_headings(recursive=True)))
    for tag in code.filter_tags(recursive=True):
        name = str(tag.tag).strip().lower()
        if name == "ref":
            counts["references"] += 1
        elif name == "table":  # {| ... |} and <table>
            counts["tables"] += 1
        elif name == "gallery" and tag.contents is not None:
            counts["media"] += sum(1 for line in str(tag.contents).splitlines() if line.strip())
    counts["words"] = float(len(_WORD.findall(code.strip_code())))
    counts["chars"] = float(len(text or ""))
    return counts


def main_text(revision: Mapping[str, Any]) -> str | None:
    """The main slot's wikitext of a formatversion=1 revision (rvslots or not); None when hidden."""
    slot = revision.get("slots", {}).get("main", revision)
    if "texthidden" in slot or "texthidden" in revision:
        return None
    return slot.get("*", slot.get("content"))


def parse_timestamp(value: str | None) -> datetime | None:
    """An API timestamp (`2024-03-01T10:00:00Z`), or None."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _seconds(later: datetime | None, earlier: datetime | None) -> float:
    return MISSING if later is None or earlier is None else max((later - earlier).total_seconds(), 0.0)


def _flag(doc: Mapping[str, Any], name: str) -> bool:
    """formatversion=1 booleans are keys present with an empty string."""
    value = doc.get(name, False)
    return value == "" or value is True


def revision_features(page: Mapping[str, Any], parent_page: Mapping[str, Any] | None,
                      user: Mapping[str, Any] | None, page_created: str | None,
                      names: NamespaceNames = NamespaceNames()) -> list[float]:
    """The features of `page["revisions"][0]`, in `FEATURE_NAMES` order.

    page / parent_page: `query.pages` entries holding one revision each (parent_page None
    for a page creation); user: the editor's `list=users` entry (None for an IP or a hidden
    editor); page_created: the timestamp of the page's first revision (None: unknown).
    """
    rev = page["revisions"][0]
    parent = parent_page["revisions"][0] if parent_page else None
    text = main_text(rev)
    if text is None:
        raise HiddenText(f"the text of revision {rev.get('revid')} is deleted or hidden")
    parent_text = "" if parent is None else main_text(parent)
    if parent_text is None:
        raise HiddenText(f"the text of revision {rev.get('revid')}'s parent {parent.get('revid')} is deleted or hidden")

    now, before = wikitext_counts(text, names), wikitext_counts(parent_text, names)
    f: dict[str, float] = {}
    f.update((f"revision_{s}", now[s]) for s in STRUCTURES)
    f.update((f"parent_{s}", before[s]) for s in STRUCTURES)
    f.update((f"{s}_diff", now[s] - before[s]) for s in STRUCTURES)
    size = float(rev.get("size", len(text.encode("utf-8"))))
    parent_size = float(parent.get("size", len(parent_text.encode("utf-8")))) if parent else 0.0
    f["revision_text_bytes"], f["revision_text_bytes_diff"] = size, size - parent_size

    hidden_user = _flag(rev, "userhidden")
    anonymous = _flag(rev, "anon") or (not hidden_user and int(rev.get("userid", 0) or 0) == 0)
    groups = set(user.get("groups", [])) if user else set()
    when = parse_timestamp(rev.get("timestamp"))
    f["user_is_anonymous"] = MISSING if hidden_user else float(anonymous)
    f["user_is_temporary"] = MISSING if hidden_user else float("temp" in groups)
    f["user_age_seconds"] = MISSING if anonymous or not user else _seconds(when, parse_timestamp(user.get("registration")))
    f["user_edit_count"] = MISSING if anonymous or not user else float(user.get("editcount", MISSING))
    f.update((f"is_{g}", MISSING if hidden_user else float(g in groups)) for g in USER_GROUPS)

    creation = int(rev.get("parentid", 0) or 0) == 0  # a parent the API no longer has counts as empty
    f["page_namespace"] = float(page.get("ns", 0))
    f["page_is_creation"] = float(creation)
    f["page_age_seconds"] = 0.0 if creation else _seconds(when, parse_timestamp(page_created))
    f["page_title_length"] = float(len(page.get("title", "")))

    hidden_comment = _flag(rev, "commenthidden")
    comment = str(rev.get("comment", "") or "")
    f["revision_comment_length"] = MISSING if hidden_comment else float(len(comment))
    f["revision_is_section_edit"] = MISSING if hidden_comment else float(bool(_SECTION_EDIT.match(comment)))
    f["revision_minor_edit"] = float(_flag(rev, "minor"))
    f["revision_seconds_since_parent"] = _seconds(when, parse_timestamp(parent.get("timestamp"))) if parent else MISSING
    tags = set(rev.get("tags", []) or [])
    f.update((f"is_{t.replace(' ', '_')}", float(t in tags)) for t in TAGS)
    return [f[name] for name in FEATURE_NAMES]
