"""What revscoring computed from a revision's text, kept for when it is someone's parent.

Scoring revision N of a page computes datasources of its text (tokens, paragraph and
sentence segments, word lists, regex matches) and of its parent's text. When revision
N+1 of the same page is scored next, its parent is revision N: its parent-side
datasources are exactly N's revision-side ones. A bounded, per-process LRU keyed by
rev_id keeps them, and the next solve starts with them in revscoring's own cache.

Twins are found in the dependency graph itself: a datasource computed from
`revision.text` alone and one computed from `revision.parent.text` alone whose names
differ only by the parent marker (revscoring spells it `revision.parent.` and, for
stopwords, `revisionparent.`) compute the same function of their text. deltas' segment
trees are flagged in place by the diff that uses them (`MatchableSegment.match`), so a
kept tree is a clean copy and every solve gets a clean copy of its own (`fresh`).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable

from cachetools import LRUCache
from deltas.segmenters import MatchableSegment, Segment
from revscoring.dependencies import expand

TEXT, PARENT_TEXT = "datasource.revision.text", "datasource.revision.parent.text"
_PARENT_MARKER = re.compile(r"revision\.?parent\.")


def _twin_name(name: str) -> str:
    return _PARENT_MARKER.sub("revision.", name)


class SideMap:
    """For one feature list: its text-derived datasources, current side and parent side,
    under one name per twin pair."""

    def __init__(self, features: Iterable[Any]) -> None:
        graph = list(expand(list(features)))
        roots = {str(d): d for d in graph if str(d) in (TEXT, PARENT_TEXT)}
        memo: dict[Any, str | None] = {}

        def root_of(d: Any) -> str | None:
            """The one text a datasource is computed from, or None (several, or other data)."""
            if d in memo:
                return memo[d]
            memo[d] = None  # cycle guard
            if str(d) in roots:
                found: str | None = str(d)
            else:
                deps = list(getattr(d, "dependencies", []) or [])
                seen = {root_of(x) for x in deps}
                found = seen.pop() if deps and len(seen) == 1 else None
            memo[d] = found
            return found

        self.current = {_twin_name(str(d)): d for d in graph if root_of(d) == TEXT and str(d) != TEXT}
        self.parent = {_twin_name(str(d)): d for d in graph if root_of(d) == PARENT_TEXT and str(d) != PARENT_TEXT}
        shared = self.current.keys() & self.parent.keys()
        self.current = {k: v for k, v in self.current.items() if k in shared}
        self.parent = {k: v for k, v in self.parent.items() if k in shared}


class QuietCache(dict):
    """revscoring formats the whole cache into a debug message on every call (even when
    debug logging is off): a short repr keeps that cheap once it holds token lists."""

    def __repr__(self) -> str:
        return f"<revscoring cache: {len(self)} values>"


def _clone(segment: Segment) -> Segment:
    """A segment tree with every match flag cleared, sharing the (immutable) tokens;
    without re-hashing: the sha1 of a segment's text is copied, not recomputed."""
    copy = list.__new__(type(segment))
    list.__init__(copy, (_clone(s) if isinstance(s, Segment) else s for s in segment))
    copy.start = segment.start
    if isinstance(segment, MatchableSegment):
        copy.sha1 = segment.sha1.copy()
        copy.match = None
    return copy


def fresh(value: Any) -> Any:
    """A value safe to hand to one solve: segment trees cloned, everything else shared."""
    if isinstance(value, Segment):
        return _clone(value)
    if isinstance(value, list) and value and isinstance(value[0], Segment):
        return [fresh(v) for v in value]
    return value


class TextCache:
    def __init__(self, size: int) -> None:
        self._values: LRUCache = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()
        self._maps: dict[tuple[int, ...], SideMap] = {}
        self.hits = 0
        self.misses = 0

    def side_map(self, features: list[Any]) -> SideMap:
        key = tuple(id(f) for f in features)
        with self._lock:
            if key not in self._maps:
                self._maps[key] = SideMap(features)
            return self._maps[key]

    def prefill(self, sides: SideMap, rev_id: int, parent_id: int) -> QuietCache:
        """A solve cache holding what is known of the revision and its parent."""
        cache = QuietCache()
        with self._lock:
            own, parent = self._values.get(rev_id), self._values.get(parent_id) if parent_id else None
        for known, side in ((own, sides.current), (parent, sides.parent)):
            if known is not None:
                cache.update((d, fresh(known[name])) for name, d in side.items() if name in known)
        if parent_id:
            if parent is not None:
                self.hits += 1
            else:
                self.misses += 1
        return cache

    def keep(self, sides: SideMap, rev_id: int, parent_id: int, solved: dict[Any, Any]) -> None:
        """Remember both texts' datasources from a finished solve."""
        entries = [(rev_id, sides.current)] + ([(parent_id, sides.parent)] if parent_id else [])
        with self._lock:
            for rid, side in entries:
                values = {name: fresh(solved[d]) for name, d in side.items() if d in solved}
                if values:
                    self._values[rid] = {**self._values.get(rid, {}), **values}
