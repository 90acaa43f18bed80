"""Lift Wing's `{"lang": "en", "rev_id": N}` requests (revert risk and the text classifiers):

- `{"lang": "en", "rev_id": N}` -> one answer;
- `{"instances": [{"lang": "en", "rev_id": N}, ...]}` (one language) -> `{"predictions": [...]}`;
- `{"event": <a mediawiki.page_change or revision-create event>}` -> one answer.

`lang` is a language code (`en`, `zh-yue`), never a database name (`enwiki` is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from transformers_svc.base import Job, Row, positive_int, require_object
from transformers_svc.errors import BadRequest
from transformers_svc.events import parse_change
from transformers_svc.settings import MEDIAWIKI_MAX_REV_ID

_LANG = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{1,8})*$")
EXPECTED = '{"lang": "en", "rev_id": N}, {"instances": [...]} or {"event": {...}}'


@dataclass(frozen=True)
class LangRevisions:
    wiki_db: str
    rev_ids: list[int]
    form: str  # "single" or "instances"


def wiki_for(lang: Any) -> str:
    if isinstance(lang, str) and lang.endswith("wiki"):
        raise BadRequest(f"lang is a language code such as 'en', not a wiki name ({lang!r})")
    if not isinstance(lang, str) or not _LANG.fullmatch(lang):
        raise BadRequest(f"lang must be a language code such as 'en', not {lang!r}")
    return f"{lang.replace('-', '_')}wiki"


def _one(item: Any, where: str) -> tuple[str, int]:
    item = require_object(item, where)
    missing = [f for f in ("lang", "rev_id") if f not in item]
    if missing:
        raise BadRequest(f"{where}: missing {', '.join(missing)}")
    return wiki_for(item["lang"]), positive_int(item["rev_id"], "rev_id", MEDIAWIKI_MAX_REV_ID)


def parse(body: Any, limit: int) -> LangRevisions:
    body = require_object(body, EXPECTED)
    if "event" in body:
        change = parse_change(body["event"])
        return LangRevisions(change.wiki, [change.rev_id], "single")
    if "instances" in body:
        items = body["instances"]
        if not isinstance(items, list) or not items:
            raise BadRequest("instances must be a non-empty list")
        if len(items) > limit:
            raise BadRequest(f"at most {limit} instances per request, got {len(items)}")
        pairs = [_one(item, f"instances[{i}]") for i, item in enumerate(items)]
        wikis = {wiki for wiki, _ in pairs}
        if len(wikis) > 1:
            raise BadRequest(f"instances must all be of one language, got {', '.join(sorted(wikis))}")
        return LangRevisions(pairs[0][0], [rev for _, rev in pairs], "instances")
    if "rev_id" in body or "lang" in body:
        wiki, rev_id = _one(body, "the request")
        return LangRevisions(wiki, [rev_id], "single")
    raise BadRequest(f"expected {EXPECTED}")


def revision_job(body: Any, max_instances: int) -> Job[int]:
    """A Lift Wing `{"lang", "rev_id"}` (or `instances`) body as the rows of one job."""
    request = parse(body, max_instances)
    return Job([Row(r) for r in request.rev_ids], form=request.form, context=request.wiki_db)
