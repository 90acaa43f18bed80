"""Change events in and revision-score events out are checked against the real schemas."""

from __future__ import annotations

import copy

import pytest
import yaml

from transformers_svc.errors import BadRequest
from transformers_svc.events import (PAGE_CHANGE, REVISION_CREATE, SCHEMAS, parse_change, revision_score_event,
                                     validator)


def _example(name: str) -> dict:
    return copy.deepcopy(yaml.safe_load((SCHEMAS / name).read_text())["examples"][0])


def test_a_page_change_event():
    event = _example(PAGE_CHANGE)
    change = parse_change(event)
    assert (change.wiki, change.rev_id, change.kind, change.page_id) == ("example", 2, "edit", 1)
    assert change.scorable


def test_a_revision_create_event():
    change = parse_change(_example(REVISION_CREATE))
    assert change.kind == "create" and change.rev_id > 0 and change.wiki


@pytest.mark.parametrize("breaks", [
    lambda e: e.pop("revision"),
    lambda e: e["revision"].update(rev_id="12"),
    lambda e: e.update(page_change_kind="explode"),
    lambda e: e.update(unknown_field=1),
])
def test_a_malformed_event_is_refused(breaks):
    event = _example(PAGE_CHANGE)
    breaks(event)
    with pytest.raises(BadRequest, match="not a valid mediawiki.page_change event"):
        parse_change(event)


@pytest.mark.parametrize("event", [None, [], "text", 3])
def test_not_an_object(event):
    with pytest.raises(BadRequest):
        parse_change(event)


def test_revision_score_events_validate():
    change = parse_change(_example(PAGE_CHANGE))
    scores = {"reverted": {"model_name": "reverted", "model_version": "0.1.0", "prediction": ["false"],
                           "probability": {"false": 0.9, "true": 0.1}}}
    event = revision_score_event(change, scores, "en.wikipedia.org")
    assert list(validator("mediawiki_revision_score_3.0.0.yaml").iter_errors(event)) == []
    assert event["rev_id"] == 2 and event["scores"]["reverted"]["prediction"] == ["false"]
    with pytest.raises(ValueError, match="does not validate"):
        revision_score_event(change, {"reverted": {"prediction": "not a list"}}, "en.wikipedia.org")
