"""Labelled revisions of MediaWiki XML dumps as the API documents `features.revision_features` reads.

The demonstration model is trained from the fixture dumps themselves (an exporter starts
no wiki): each revision becomes the `query.pages` entry, parent, `list=users` entry and
page creation time the Action API would give for it once the dump is imported, so the
model is trained on the features the service computes from the live wiki. A dump's
manifest (the `.yaml` beside it, `lwt.stack.wiki`'s format) names each revision's role,
the editors' groups and registration dates, and which revisions have hidden text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from exporters.contract.errors import ExportError
from exporters.revertrisk.features import NamespaceNames, revision_features

_NS = "{http://www.mediawiki.org/xml/export-0.11/}"
IMPLICIT_GROUPS = ["*", "user", "autoconfirmed"]  # what list=users adds to a registered editor's groups


@dataclass(frozen=True)
class DumpRevision:
    """One revision as the API would show it after import."""

    page: dict[str, Any]  # a query.pages entry with this one revision
    parent: dict[str, Any] | None
    user: dict[str, Any] | None
    page_created: str
    title: str
    index: int  # position in its page's history (the manifest's `index`)


@dataclass(frozen=True)
class Example:
    role: str
    revision: DumpRevision
    label: bool

    def features(self, names: NamespaceNames = NamespaceNames()) -> list[float]:
        r = self.revision
        return revision_features(r.page, r.parent, r.user, r.page_created, names)


def _text(element: ET.Element | None, tag: str, default: str = "") -> str:
    found = element.find(_NS + tag) if element is not None else None
    return found.text or default if found is not None else default


def _iso(mw_timestamp: str) -> str:
    """`20200105120000` -> `2020-01-05T12:00:00Z` (the API's form)."""
    t = mw_timestamp
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


def read_manifest(dump: Path) -> dict[str, Any]:
    path = dump.with_suffix(".yaml")
    found = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return {"users": found.get("users") or [], "revisions": found.get("revisions") or []}


def read_dump(dump: Path) -> dict[str, list[dict[str, Any]]]:
    """title -> the page's revisions in file order, each `{revid, parentid, user, ip, ...}`."""
    try:
        root = ET.parse(dump).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ExportError(f"{dump}: not a readable MediaWiki XML dump ({exc})") from exc
    pages: dict[str, list[dict[str, Any]]] = {}
    for page in root.iter(_NS + "page"):
        title, ns = _text(page, "title"), int(_text(page, "ns", "0"))
        revisions = pages.setdefault(title, [])
        for rev in page.iter(_NS + "revision"):
            contributor = rev.find(_NS + "contributor")
            revisions.append({
                "ns": ns, "revid": int(_text(rev, "id")), "timestamp": _text(rev, "timestamp"),
                "user": _text(contributor, "username") or _text(contributor, "ip"),
                "ip": contributor is not None and contributor.find(_NS + "ip") is not None,
                "comment": _text(rev, "comment"), "minor": rev.find(_NS + "minor") is not None,
                "text": _text(rev, "text"),
            })
    return pages


def dump_revisions(dumps: Iterable[Path]) -> dict[tuple[str, int], DumpRevision]:
    """(title, index) -> the revision as the API documents it, for every revision of `dumps`."""
    dumps = list(dumps)
    pages: dict[str, list[dict[str, Any]]] = {}
    users: dict[str, dict[str, Any]] = {}
    for dump in dumps:
        for title, revisions in read_dump(dump).items():
            pages.setdefault(title, []).extend(revisions)
        for user in read_manifest(dump)["users"]:
            users.setdefault(user["name"], user)
    # initEditCount counts every edit an editor has in the wiki: every dump imported together.
    edits = Counter(r["user"] for revisions in pages.values() for r in revisions if not r["ip"])
    out: dict[tuple[str, int], DumpRevision] = {}
    for page_id, (title, revisions) in enumerate(pages.items(), 1):
        docs = []
        for index, r in enumerate(revisions):
            rev: dict[str, Any] = {
                "revid": r["revid"], "parentid": docs[-1]["revisions"][0]["revid"] if docs else 0,
                "user": r["user"], "userid": 0 if r["ip"] else 1, "timestamp": r["timestamp"],
                "comment": r["comment"], "size": len(r["text"].encode("utf-8")), "tags": [],
                "slots": {"main": {"contentmodel": "wikitext", "*": r["text"]}},
            }
            if r["ip"]:
                rev["anon"] = ""
            if r["minor"]:
                rev["minor"] = ""
            docs.append({"pageid": page_id, "ns": r["ns"], "title": title, "revisions": [rev]})
            user = users.get(r["user"])
            user_doc = None if r["ip"] or user is None else {
                "name": user["name"], "editcount": edits[r["user"]], "registration": _iso(str(user["registration"])),
                "groups": [*user.get("groups", []), *IMPLICIT_GROUPS]}
            out[(title, index)] = DumpRevision(docs[-1], docs[-2] if len(docs) > 1 else None, user_doc,
                                               revisions[0]["timestamp"], title, index)
    return out


def _hide(revision: dict[str, Any]) -> None:
    slot = revision["slots"]["main"]
    slot.pop("*", None)
    slot["texthidden"] = ""


def labelled_examples(dumps: Iterable[Path], label: Callable[[dict[str, Any]], bool | None]) -> list[Example]:
    """Every manifest revision `label` gives a label to, in manifest order. Revisions whose
    text (or parent's text) the wiki hides (`hidden_text` roles) carry no features: left out."""
    dumps = list(dumps)
    revisions = dump_revisions(dumps)
    entries = [e for d in dumps for e in read_manifest(d)["revisions"]]
    hidden = {(e["title"], e["index"]) for e in entries if e["role"].startswith("hidden_text")}
    examples = []
    for entry in entries:
        key = (entry["title"], entry["index"])
        if key not in revisions:
            raise ExportError(f"manifest names revision {entry['index']} of {entry['title']!r}, which no dump holds")
        value = label(entry)
        if value is None or key in hidden or (entry["title"], entry["index"] - 1) in hidden:
            continue
        examples.append(Example(entry["role"], revisions[key], bool(value)))
    return examples
