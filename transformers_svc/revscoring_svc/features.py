"""Fetch what revscoring needs from MediaWiki (async, two calls) and solve the features.

Revisions (with content) come in one call; their parents and their editors' user info in
a second, combined call. The answers are put, in the API's own shape, into revscoring's
`MWAPICache`, and revscoring's own `api.Extractor` solves the model's features from it:
the datasource graph is revscoring's, not re-implemented here. Solving is CPU work and
runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from transformers_svc.errors import RevisionNotFound, ServiceError, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient, main_text


class NotPrefetched(RuntimeError):
    """revscoring asked for API data the service did not fetch: a bug, not a user error."""


class _NoNetwork:
    """The Extractor's session: every call means the prefetch missed something."""

    def get(self, **params: Any) -> dict:
        raise NotPrefetched(f"revscoring wanted an API call the service did not prefetch: {params}")


@dataclass
class Fetched:
    """API documents per revision, ready for revscoring, and per-revision errors."""

    revisions: dict[int, dict] = field(default_factory=dict)  # rev_id -> page doc with one revision
    users: dict[str, dict] = field(default_factory=dict)
    errors: dict[int, ServiceError] = field(default_factory=dict)

    def http_cache(self, rev_id: int) -> Any:
        from revscoring.extractors.api.extractor import MWAPICache

        cache = MWAPICache()
        revision = self.revisions[rev_id]["revisions"][0]
        for rid in (rev_id, int(revision.get("parentid", 0))):
            if rid in self.revisions:
                # revscoring adds a 'page' key to the revision docs it reads: give it copies.
                page = copy.deepcopy(self.revisions[rid])
                cache.add_revisions_batch_doc([rid], {"query": {"pages": {str(page["pageid"]): page}}})
        user = self.users.get(revision.get("user", ""))
        if user is not None:
            cache.add_users_batch_doc([user["name"]], {"query": {"users": [user]}})
        return cache


def _split(doc: dict) -> tuple[dict[int, dict], set[int]]:
    pages: dict[int, dict] = {}
    for page in doc.get("query", {}).get("pages", {}).values():
        meta = {k: v for k, v in page.items() if k != "revisions"}
        for revision in page.get("revisions", []):
            pages[int(revision["revid"])] = {**meta, "revisions": [revision]}
    bad = {int(r["revid"]) for r in doc.get("query", {}).get("badrevids", {}).values()}
    return pages, bad


def _text_problem(rev_id: int, page: dict) -> ServiceError | None:
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
        elif (problem := _text_problem(rev_id, first[rev_id])) is not None:
            fetched.errors[rev_id] = problem
    good = {r: first[r] for r in rev_ids if r not in fetched.errors}
    fetched.revisions.update(good)
    parents = {int(p["revisions"][0].get("parentid", 0)) for p in good.values()} - {0} - set(good)
    users = {p["revisions"][0]["user"] for p in good.values()
             if p["revisions"][0].get("userid", 0) and "user" in p["revisions"][0]}
    if parents or users:
        second = await client.revisions(sorted(parents), users) if parents else \
            await client.get(action="query", list="users", ususers="|".join(sorted(users)),
                             usprop="groups|registration|emailable|editcount|gender")
        parent_docs, _ = _split(second)
        fetched.revisions.update(parent_docs)
        for user in second.get("query", {}).get("users", []):
            if "missing" not in user and "invalid" not in user:
                fetched.users[user["name"]] = user
    return fetched


class Solver:
    """revscoring's api.Extractor, one per worker thread (it keeps per-call state)."""

    def __init__(self, features: Sequence[Any]) -> None:
        self.features = list(features)
        self._local = threading.local()

    def _extractor(self) -> Any:
        if not hasattr(self._local, "extractor"):
            from revscoring.extractors.api import Extractor

            self._local.extractor = Extractor(_NoNetwork())
        return self._local.extractor

    def solve(self, rev_id: int, fetched: Fetched) -> list[Any]:
        """The model's feature values for one revision, in the model's order."""
        from revscoring import errors as rs_errors

        try:
            return list(self._extractor().extract(rev_id, self.features, http_cache=fetched.http_cache(rev_id)))
        except rs_errors.TextDeleted as exc:
            raise TextDeleted(f"text needed for revision {rev_id} is deleted or hidden ({exc})") from exc
        except rs_errors.RevisionNotFound as exc:
            raise RevisionNotFound(f"revision {rev_id} (or its parent) does not exist") from exc
        except (rs_errors.UserDeleted, rs_errors.CommentDeleted) as exc:
            raise TextDeleted(f"data needed for revision {rev_id} is deleted or hidden ({type(exc).__name__})") from exc
