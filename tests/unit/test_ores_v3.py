"""ORES v3's parameter rules and model info, revision-score events from a v3 answer,
EventGate's answers, the in-process score cache and the generated fixture dump: no server."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import httpx
import pytest
import yaml

from exporters.contract.card import read_card
from lwt.stack.edits_dump import DUMP_NAME, generate, write_edits_dump
from lwt.stack.wiki import FIXTURES
from transformers_svc.cache import ScoreCache, ScoreKey
from transformers_svc.errors import MediaWikiTimeout, RevisionNotFound
from transformers_svc.events import PAGE_CHANGE, REVISION_SCORE, SCHEMAS, parse_change, revision_score_event, validator
from transformers_svc.ores_v3.model_info import ModelInfoLookupError, model_info
from transformers_svc.ores_v3.params import OresError, Params, rev_id
from transformers_svc.precache.consumer import score_fields
from transformers_svc.precache.eventgate import EventGateSink
from transformers_svc.settings import ServiceSettings

REVERTED = Path(__file__).resolve().parents[2] / "model_repository" / "enwiki-reverted" / "1"


def test_lists_are_bar_separated_and_flags_are_present_or_not():
    params = Params({"revids": "3|4| 5", "features": "", "precache": "false"}, {"models": ["a", "b"]})
    assert params.bar_list("revids", rev_id) == [3, 4, 5]
    assert params.bar_list("models", str) == ["a", "b"]  # a JSON body may give a list
    assert params.bar_list("model_info", str) == []
    assert params.flag("features") and not params.flag("precache") and not params.flag("other")
    assert Params({}, {"features": True}).flag("features")


@pytest.mark.parametrize("revids", ["3|x", "3||4", "0", "-2", str(2**32)])
def test_a_malformed_revision_list_is_a_400(revids):
    with pytest.raises(OresError) as caught:
        Params({"revids": revids}, {}).bar_list("revids", rev_id)
    assert caught.value.status == 400
    body = json.loads(caught.value.response().body)
    assert body["error"]["code"] == "bad request" and body["error"]["message"].startswith("Could not interpret revids")


def test_errors_of_the_services_keep_their_status_in_ores_shape():
    error = OresError.of(MediaWikiTimeout("the wiki did not answer"))
    assert error.status == 504
    assert json.loads(error.response().body) == {"error": {"code": "request_timeout",
                                                           "message": "MediaWikiTimeout: the wiki did not answer"}}


def test_model_info_from_the_card():
    card = read_card(REVERTED)
    assert model_info(card) == {"version": "0.1.0"}
    info = model_info(card, ["type", "params", "statistics.roc_auc.labels.true", "score_schema"])
    assert info["type"] == "GradientBoosting" and info["params"]["n_estimators"] == 100
    assert info["statistics"] == {"roc_auc": {"labels": {"true": 0.862}}}
    assert info["score_schema"]["properties"]["prediction"]["type"] == "boolean"
    assert set(info["score_schema"]["properties"]["probability"]["properties"]) == {"true", "false"}
    info["params"]["n_estimators"] = 1
    assert card.params["n_estimators"] == 100  # answers are copies
    for bad in ("nope", "statistics.nope", "version.deeper", ""):
        with pytest.raises(ModelInfoLookupError):
            model_info(card, [bad])


def _change():
    event = copy.deepcopy(yaml.safe_load((SCHEMAS / PAGE_CHANGE).read_text())["examples"][0])
    return parse_change(event)


def test_a_v3_answer_becomes_a_valid_revision_score_event():
    change = _change()
    answer = {change.wiki: {"models": {"damaging": {"version": "0.5.1"}, "topic": {"version": "2"},
                                       "reverted": {"version": "0.1.0"}},
                            "scores": {str(change.rev_id): {
                                "damaging": {"score": {"prediction": False, "probability": {"false": 0.8, "true": 0.2}}},
                                "topic": {"score": {"prediction": ["STEM.Physics"],
                                                    "probability": {"STEM.Physics": 0.7, "Culture": 0.1}}},
                                "reverted": {"error": {"type": "TextDeleted", "message": "hidden"}}}}}}
    scores, errors = score_fields(answer, change)
    assert scores["damaging"]["prediction"] == ["false"] and scores["topic"]["prediction"] == ["STEM.Physics"]
    assert scores["damaging"]["model_version"] == "0.5.1"
    assert errors == {"reverted": {"model_name": "reverted", "model_version": "0.1.0", "type": "TextDeleted",
                                   "message": "hidden"}}
    event = revision_score_event(change, scores, "en.wikipedia.org", errors)
    assert list(validator(REVISION_SCORE).iter_errors(event)) == []
    assert event["errors"]["reverted"]["type"] == "TextDeleted"


def _sink_after(response: httpx.Response, batch: list[dict]) -> EventGateSink:
    sink = EventGateSink("http://eventgate.invalid/v1/events", client=None)  # type: ignore[arg-type]
    sink._account(batch, response)  # noqa: SLF001 - how EventGate's answers are counted
    return sink


def test_eventgate_answers_are_counted():
    batch = [{"rev_id": i} for i in range(3)]
    assert _sink_after(httpx.Response(201), batch).stats.sent == 3
    partial = httpx.Response(207, json={"invalid": [{"status": "invalid", "event": batch[1],
                                                     "context": {"errorsText": "data/rev_id must be >= 0"}}],
                                        "error": []})
    stats = _sink_after(partial, batch).stats
    assert (stats.sent, stats.refused) == (2, 1)
    stats = _sink_after(httpx.Response(404, text="no such route"), batch).stats
    assert (stats.sent, stats.refused) == (0, 3)


def test_the_in_process_cache_keeps_scores_and_lasting_errors_only():
    async def run() -> tuple[dict, dict]:
        cache = ScoreCache(ServiceSettings(cache="memory"))
        score, error = ScoreKey("enwiki", "damaging", 1, "0.5.1"), ScoreKey("enwiki", "damaging", 2, "0.5.1")
        await cache.put_many({score: {"score": {"prediction": True}}}, {error: {"error": {"type": "RevisionNotFound"}}})
        other_version = ScoreKey("enwiki", "damaging", 1, "0.6.0")
        with_features = ScoreKey("enwiki", "damaging", 1, "0.5.1", features=True)
        return await cache.get_many([score, error, other_version, with_features]), {"score": score, "error": error}

    found, keys = asyncio.run(run())
    assert set(found) == {keys["score"], keys["error"]}
    assert ScoreCache.lasting(RevisionNotFound("gone")) and not ScoreCache.lasting(MediaWikiTimeout("slow"))
    assert ScoreCache(ServiceSettings(cache="redis://127.0.0.1:1/0")).kind == "redis"


def test_the_shipped_edits_dump_is_what_the_generator_writes(tmp_path):
    write_edits_dump(tmp_path)
    for suffix in (".xml", ".yaml"):
        assert (tmp_path / f"{DUMP_NAME}{suffix}").read_text() == (FIXTURES / f"{DUMP_NAME}{suffix}").read_text()
    _, manifest = generate()
    assert len(manifest["revisions"]) >= 50  # enough for `lwt bench ores`
    assert len({r["role"] for r in manifest["revisions"]}) == len(manifest["revisions"])
