"""Solve revscoring features for one wiki's models at once.

revscoring's own `api.Extractor` solves the dependency graph of datasources (not
re-implemented here) from the prefetched API documents. Several models of one wiki
(`reverted`, `damaging`, `goodfaith`, ...) are solved in one call per revision over the
union of their feature lists, so a datasource they share (the diff, the parsed text,
the user's registration) is computed once; each model then gets its own features back,
in its own order. Solving is CPU work: it runs in worker threads, off the event loop.
What was computed from a revision's text is kept (`text_cache`) for when that revision
is the parent of the next one scored.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import exporters.contract.revscoring_features  # noqa: F401 - NLTK's offline data before revscoring.languages
from revscoring import errors as rs_errors
from revscoring.extractors.api import Extractor
from revscoring.extractors.api.extractor import MWAPICache

from transformers_svc.errors import RevisionNotFound, ServiceError, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient, deadline
from transformers_svc.mediawiki.revisions import Fetched, fetch
from transformers_svc.metrics import stage
from transformers_svc.revscoring_svc.text_cache import TextCache

Values = list[list[Any]]  # per model, its feature values in its order


def http_cache(fetched: Fetched, rev_id: int) -> MWAPICache:
    """The revision, its parent and its editor, as revscoring's Extractor reads them."""
    cache = MWAPICache()
    revision = fetched.revision(rev_id)
    for rid in (rev_id, int(revision.get("parentid", 0))):
        if rid in fetched.revisions:
            # revscoring adds a 'page' key to the revision docs it reads: give it copies.
            page = copy.deepcopy(fetched.revisions[rid])
            cache.add_revisions_batch_doc([rid], {"query": {"pages": {str(page["pageid"]): page}}})
    user = fetched.users.get(revision.get("user", ""))
    if user is not None:
        cache.add_users_batch_doc([user["name"]], {"query": {"users": [user]}})
    return cache


# One solving thread per process. revscoring's English features call hunspell through
# pyenchant, whose ctypes calls release the GIL, and hunspell is not thread-safe: two solves
# at once corrupted the heap ("malloc_consolidate(): invalid chunk size", seen under load).
# Solving is GIL-bound Python anyway, so a second thread added nothing; `--workers` (one
# process each) is what scales it.
SOLVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="revscoring-solve")

class NotPrefetched(RuntimeError):
    """revscoring asked for API data the service did not fetch: a bug, not a user error."""


class _NoNetwork:
    """The Extractor's session: every call means the prefetch missed something."""

    def get(self, **params: Any) -> dict:
        raise NotPrefetched(f"revscoring wanted an API call the service did not prefetch: {params}")


class WikiSolver:
    """Fetch and solve for any subset of one wiki's revscoring models."""

    def __init__(self, wiki: str, client: MediaWikiClient, timeout: float, text_cache_size: int = 256) -> None:
        self.wiki = wiki
        self.client = client
        self.timeout = timeout
        self.texts = TextCache(text_cache_size)
        self._local = threading.local()

    def _extractor(self) -> Extractor:
        if not hasattr(self._local, "extractor"):  # it keeps per-call state: one per thread
            self._local.extractor = Extractor(_NoNetwork())
        return self._local.extractor

    def _solve_one(self, rev_id: int, fetched: Fetched, lists: Sequence[Sequence[Any]]) -> Values | ServiceError:
        union = list(dict.fromkeys(f for features in lists for f in features))
        sides = self.texts.side_map(union)
        parent_id = int(fetched.revision(rev_id).get("parentid", 0))
        if parent_id and not fetched.parent_text_visible(rev_id):
            parent_id = 0  # never stand in for a text the API now withholds: let revscoring see it
        cache = self.texts.prefill(sides, rev_id, parent_id)
        try:
            values = list(self._extractor().extract(rev_id, union, http_cache=http_cache(fetched, rev_id),
                                                    cache=cache))
        except rs_errors.TextDeleted as exc:
            return TextDeleted(f"text needed for revision {rev_id} is deleted or hidden ({exc})")
        except rs_errors.RevisionNotFound:
            return RevisionNotFound(f"revision {rev_id} (or its parent) does not exist")
        except (rs_errors.UserDeleted, rs_errors.CommentDeleted) as exc:
            return TextDeleted(f"data needed for revision {rev_id} is deleted or hidden ({type(exc).__name__})")
        self.texts.keep(sides, rev_id, parent_id, cache)
        by_feature = dict(zip(union, values))
        return [[by_feature[f] for f in features] for features in lists]

    async def solve(self, rev_ids: Sequence[int], lists: Sequence[Sequence[Any]], timings: dict[str, float],
                    label: str) -> dict[int, Values | ServiceError]:
        """Per revision: each list's values, or the revision's error."""
        with stage(label, "fetch", timings):
            async with deadline(self.timeout, f"MediaWiki API at {self.client.api_url}"):
                fetched = await fetch(self.client, rev_ids)
        results: dict[int, Values | ServiceError] = dict(fetched.errors)
        good = [r for r in rev_ids if r not in fetched.errors]
        with stage(label, "features", timings):
            solved = await asyncio.get_running_loop().run_in_executor(
                SOLVER, lambda: [self._solve_one(r, fetched, lists) for r in good])
        results.update(zip(good, solved))
        return results
