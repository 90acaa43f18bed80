"""Revisions, their parents and their editors for a batch: two API calls, whatever its size.

Revisions (with content) come in one call; their parents and their editors' user info in
a second, combined call. The answers are kept in the API's own shape (`formatversion=1`),
which revscoring's `MWAPICache` takes as is (`Fetched.http_cache`) and from which the
other services read texts and metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from transformers_svc.errors import RevisionNotFound, ServiceError, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient, main_text


@dataclass
class Fetched:
    """API documents per revision, ready for revscoring, and per-revision errors."""

    revisions: dict[int, dict] = field(default_factory=dict)  # rev_id -> page doc with one revision
    users: dict[str, dict] = field(default_factory=dict)
    errors: dict[int, ServiceError] = field(default_factory=dict)

    def revision(self, rev_id: int) -> dict:
        return self.revisions[rev_id]["revisions"][0]

    def text(self, rev_id: int) -> str:
        return main_text(self.revisions[rev_id], rev_id)

    def parent_text_visible(self, rev_id: int) -> bool:
        parent = int(self.revision(rev_id).get("parentid", 0))
        if parent not in self.revisions:
            return False
        try:
            main_text(self.revisions[parent], parent)
        except TextDeleted:
            return False
        return True

    def parent_text(self, rev_id: int) -> str:
        """The parent's text; empty for a page creation (or a parent the API withholds)."""
        parent = int(self.revision(rev_id).get("parentid", 0))
        if not parent or parent not in self.revisions:
            return ""
        try:
            return main_text(self.revisions[parent], parent)
        except TextDeleted:
            return ""



def _split(doc: dict) -> tuple[dict[int, dict], set[int]]:
    pages: dict[int, dict] = {}
    for page in doc.get("query", {}).get("pages", {}).values():
        meta = {k: v for k, v in page.items() if k != "revisions"}
        for revision in page.get("revisions", []):
            pages[int(revision["revid"])] = {**meta, "revisions": [revision]}
    bad = {int(r["revid"]) for r in doc.get("query", {}).get("badrevids", {}).values()}
    return pages, bad


def text_problem(rev_id: int, page: dict) -> ServiceError | None:
    """The error a revision's text gives (deleted or hidden), or None."""
    try:
        main_text(page, rev_id)
    except TextDeleted as exc:
        return exc
    return None


async def fetch(client: MediaWikiClient, rev_ids: Sequence[int]) -> Fetched:
    fetched = Fetched()
    first, bad = _split(await client.revisions(rev_ids))
    for rev_id in rev_ids:
        if rev_id in bad or rev_id not in first:
            fetched.errors[rev_id] = RevisionNotFound(f"revision {rev_id} does not exist")
        elif (problem := text_problem(rev_id, first[rev_id])) is not None:
            fetched.errors[rev_id] = problem
    good = {r: first[r] for r in rev_ids if r not in fetched.errors}
    fetched.revisions.update(good)
    parents = {int(p["revisions"][0].get("parentid", 0)) for p in good.values()} - {0} - set(good)
    users = {p["revisions"][0]["user"] for p in good.values()
             if p["revisions"][0].get("userid", 0) and "user" in p["revisions"][0]}
    if parents or users:
        second = await client.revisions(sorted(parents), users) if parents else \
            await client.users(users)
        parent_docs, _ = _split(second)
        fetched.revisions.update(parent_docs)
        for user in second.get("query", {}).get("users", []):
            if "missing" not in user and "invalid" not in user:
                fetched.users[user["name"]] = user
    return fetched
