"""Wikimedia change events in, revision-score events out, each checked against its schema.

In: `mediawiki.page_change` (`/mediawiki/page/change/1.2.0`) and the older
`mediawiki.revision-create` (`/mediawiki/revision/create/2.0.0`) events, as EventStreams
serves them: validated against the real JSON Schemas shipped in `event_schemas/` before
anything is read from them. Out: `mediawiki.revision_score` events
(`/mediawiki/revision/score/3.0.0`), validated before they are sent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from transformers_svc.errors import BadRequest

SCHEMAS = Path(__file__).parent / "event_schemas"
PAGE_CHANGE = "mediawiki_page_change_1.2.0.yaml"
REVISION_CREATE = "mediawiki_revision_create_2.0.0.yaml"
REVISION_SCORE = "mediawiki_revision_score_3.0.0.yaml"
SCORE_STREAM = "mediawiki.revision_score"
# page_change kinds that make a new revision worth scoring
SCORED_KINDS = {"create", "edit"}


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.Draft7Validator:
    schema = yaml.safe_load((SCHEMAS / name).read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


@dataclass(frozen=True)
class ChangeEvent:
    """What scoring needs of a change event."""

    wiki: str
    rev_id: int
    kind: str  # page_change_kind, or "create" for revision-create
    page_id: int
    page_title: str
    page_namespace: int
    rev_timestamp: str
    performer: dict[str, Any] | None
    event_id: str | None = None

    @property
    def scorable(self) -> bool:
        return self.kind in SCORED_KINDS


def _problem(errors: list[jsonschema.ValidationError]) -> str:
    first = min(errors, key=lambda e: len(e.path))
    where = "/".join(str(p) for p in first.path) or "(top)"
    return f"{where}: {first.message[:200]}"


def parse_change(event: Any) -> ChangeEvent:
    """A page_change or revision-create event, validated; BadRequest naming the problem."""
    if not isinstance(event, Mapping):
        raise BadRequest("an event must be a JSON object")
    schema_id = str(event.get("$schema", ""))
    name = PAGE_CHANGE if "page/change" in schema_id or "page_change_kind" in event else REVISION_CREATE
    errors = list(validator(name).iter_errors(event))
    if errors:
        kind = "mediawiki.page_change" if name == PAGE_CHANGE else "mediawiki.revision-create"
        raise BadRequest(f"not a valid {kind} event: {_problem(errors)}")
    meta = event.get("meta", {})
    if name == PAGE_CHANGE:
        page, revision = event["page"], event["revision"]
        return ChangeEvent(wiki=event["wiki_id"], rev_id=int(revision["rev_id"]), kind=event["page_change_kind"],
                           page_id=int(page["page_id"]), page_title=page["page_title"],
                           page_namespace=int(page.get("namespace_id", 0)), rev_timestamp=revision["rev_dt"],
                           performer=event.get("performer"), event_id=meta.get("id"))
    return ChangeEvent(wiki=event["database"], rev_id=int(event["rev_id"]), kind="create",
                       page_id=int(event["page_id"]), page_title=event["page_title"],
                       page_namespace=int(event["page_namespace"]), rev_timestamp=event["rev_timestamp"],
                       performer=event.get("performer"), event_id=meta.get("id"))


# page_change's user fragment -> revision-score's performer fields (revision-create's
# performer already uses the revision-score names).
_PERFORMER = {"user_text": "user_text", "user_id": "user_id", "groups": "user_groups", "is_bot": "user_is_bot",
              "edit_count": "user_edit_count", "registration_dt": "user_registration_dt"}


def _performer(performer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not performer:
        return None
    allowed = set(validator(REVISION_SCORE).schema["properties"]["performer"]["properties"])
    out = {_PERFORMER.get(k, k): v for k, v in performer.items()}
    out = {k: v for k, v in out.items() if k in allowed}
    return out or None


def revision_score_event(change: ChangeEvent, scores: Mapping[str, dict[str, Any]], domain: str,
                         errors: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A `/mediawiki/revision/score/3.0.0` event for one scored revision (`errors`: the
    models that could not score it); ValueError when it would not validate (it is never
    sent then)."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event: dict[str, Any] = {
        "$schema": "/mediawiki/revision/score/3.0.0",
        "meta": {"stream": SCORE_STREAM, "id": str(uuid.uuid4()), "dt": now, "domain": domain},
        "dt": now,
        "database": change.wiki,
        "page_id": change.page_id,
        "page_title": change.page_title,
        "page_namespace": change.page_namespace,
        "rev_id": change.rev_id,
        "rev_timestamp": change.rev_timestamp,
        "scores": dict(scores),
    }
    if errors:
        event["errors"] = dict(errors)
    performer = _performer(change.performer)
    if performer:
        event["performer"] = performer
    errors = list(validator(REVISION_SCORE).iter_errors(event))
    if errors:
        raise ValueError(f"revision-score event does not validate: {_problem(errors)}")
    return event
