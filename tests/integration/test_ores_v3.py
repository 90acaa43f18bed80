"""ORES v3, the score cache and precaching, end to end: the real wiki (behind a counting
proxy of ours), the real Triton serving two revscoring models of enwiki (the shipped
`reverted` and a `damaging` trained here on editquality's 80-feature list), a real Redis,
and the services in front."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis as redis_client
import yaml

from benchmarks.ores_models import train_editquality
from exporters.tree.export import TreeExportOptions, export_tree
from lwt.stack.process import free_port
from lwt.stack.redis import RedisServer
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from tests.integration import client
from tests.integration.ores_helpers import CountingProxy, EventSink, SseSource
from transformers_svc.cache import ScoreKey

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"
MODELS = ("damaging", "reverted")


@pytest.fixture(scope="module")
def ores_repo(tmp_path_factory):
    """The shipped enwiki-reverted beside an enwiki-damaging trained and exported here."""
    work = tmp_path_factory.mktemp("ores-models")
    repo = work / "repository"
    shutil.copytree(SHIPPED / "enwiki-reverted", repo / "enwiki-reverted")
    model_file = train_editquality("damaging", work / "enwiki.damaging.model", rows=600, n_estimators=40,
                                   max_depth=3)
    export_tree(model_file, TreeExportOptions(name="enwiki-damaging", repository=repo, version=1, progress=False))
    return repo


@pytest.fixture(scope="module")
def stack(ores_repo, wiki, tmp_path_factory):
    work = tmp_path_factory.mktemp("ores-stack")
    with pytest.MonkeyPatch.context() as patch, CountingProxy(wiki.api_url) as proxy, \
            RedisServer(work / "redis", free_port()) as cache, \
            TritonServer(ores_repo, Ports(free_port(), free_port(), free_port()), workdir=work / "triton") as triton:
        patch.setenv("LWT_CACHE_TIMEOUT", "2.0")  # a busy shared machine must not make a healthy Redis look down
        services = ServicesProcess(ores_repo, free_port(), triton.http_url, proxy.api_url,
                                   log_path=work / "services.log", options={"cache": cache.url})
        with services:
            yield {"services": services, "proxy": proxy, "redis": cache, "triton": triton}


@pytest.fixture(scope="module")
def twenty(revs):
    ids = [rev_id for role, rev_id in revs.items() if role.startswith("recent_")][:20]
    assert len(ids) == 20
    return ids


def flush(stack) -> None:
    with redis_client.Redis(port=stack["redis"].port) as client:
        client.flushdb()


def get(url: str) -> tuple[int, dict]:
    return client.get(url)


def post(url: str, body: object) -> tuple[int, dict]:
    return client.post(url, body)


def v3(stack, revids, models=None, extra: str = "") -> tuple[int, dict]:
    query = f"revids={'|'.join(map(str, revids))}" + (f"&models={'|'.join(models)}" if models else "") + extra
    return get(f"{stack['services'].url}/v3/scores/enwiki/?{query}")


def v1(stack, model: str, rev_id: int, extended: bool = False) -> dict:
    status, answer = post(f"{stack['services'].url}/v1/models/enwiki-{model}:predict",
                          {"rev_id": rev_id, "extended_output": extended})
    assert status == 200, answer
    return answer["enwiki"]["scores"][str(rev_id)][model]


def metric(stack, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"{stack['services'].url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_v3_equals_v1_model_by_model(stack, twenty):
    flush(stack)
    single = {(m, r): v1(stack, m, r) for m in MODELS for r in twenty}
    flush(stack)
    before = stack["proxy"].count()
    status, answer = v3(stack, twenty)
    assert status == 200
    assert stack["proxy"].count() > before  # computed, not read back from the cache the v1 calls filled
    assert answer["enwiki"]["models"] == {"damaging": {"version": "0.5.1"}, "reverted": {"version": "0.1.0"}}
    assert list(answer["enwiki"]["scores"]) == [str(r) for r in twenty]
    for (model, rev_id), expected in single.items():
        got = answer["enwiki"]["scores"][str(rev_id)][model]["score"]
        assert got["prediction"] == expected["score"]["prediction"]
        for label, p in expected["score"]["probability"].items():
            assert abs(got["probability"][label] - p) <= 1e-6, (model, rev_id)


def test_mediawiki_calls_per_batch_do_not_grow_with_the_models(stack, twenty):
    calls = []
    for models in (["reverted"], ["reverted", "damaging"]):
        flush(stack)
        before = stack["proxy"].count()
        status, answer = v3(stack, twenty, models)
        assert status == 200 and all(len(m) == len(models) for m in answer["enwiki"]["scores"].values())
        calls.append(stack["proxy"].count() - before)
    assert calls[0] == calls[1] and 1 <= calls[1] <= 2, calls  # revisions, then parents + users
    flush(stack)
    before = stack["proxy"].count()
    for model in MODELS:  # what the compatibility layer does today: one call per (revision, model)
        for rev_id in twenty:
            v1(stack, model, rev_id)
    assert stack["proxy"].count() - before >= 2 * len(twenty) * len(MODELS) - 2


def test_features_appear_with_features(stack, twenty, ores_repo):
    cards = {m: yaml.safe_load((ores_repo / f"enwiki-{m}" / "1" / "model.yaml").read_text())["features"]
             for m in MODELS}
    flush(stack)
    extended = {(m, r): v1(stack, m, r, extended=True) for m in MODELS for r in twenty[:3]}
    flush(stack)
    status, answer = v3(stack, twenty[:3], extra="&features")
    assert status == 200
    for (model, rev_id), expected in extended.items():
        entry = answer["enwiki"]["scores"][str(rev_id)][model]
        assert list(entry["features"]) == cards[model]
        assert entry["features"] == pytest.approx(expected["features"], abs=1e-9)
    status, plain = v3(stack, twenty[:3])
    assert all("features" not in e for m in plain["enwiki"]["scores"].values() for e in m.values())


def test_answer_shapes_and_errors_are_ores(stack, revs, twenty):
    url = stack["services"].url
    status, contexts = get(f"{url}/v3/scores/")
    assert status == 200 and contexts == {"enwiki": {"models": {"damaging": {"version": "0.5.1"},
                                                                 "reverted": {"version": "0.1.0"}}}}
    status, info = get(f"{url}/v3/scores/enwiki/?model_info=version|type|statistics.roc_auc.labels.true")
    assert status == 200 and "scores" not in info["enwiki"]
    assert info["enwiki"]["models"]["reverted"] == {"version": "0.1.0", "type": "GradientBoosting",
                                                    "statistics": {"roc_auc": {"labels": {"true": 0.862}}}}
    status, mixed = v3(stack, [twenty[0], revs["hidden_text"], 987654321])
    assert status == 200
    scores = mixed["enwiki"]["scores"]
    assert all("score" in e for e in scores[str(twenty[0])].values())
    assert {e["error"]["type"] for e in scores[str(revs["hidden_text"])].values()} == {"TextDeleted"}
    assert {e["error"]["type"] for e in scores["987654321"].values()} == {"RevisionNotFound"}
    status, one = get(f"{url}/v3/scores/enwiki/{twenty[1]}/damaging")
    assert status == 200 and list(one["enwiki"]["scores"][str(twenty[1])]) == ["damaging"]
    status, every = get(f"{url}/v3/scores/enwiki/{twenty[1]}/")
    assert status == 200 and set(every["enwiki"]["scores"][str(twenty[1])]) == set(MODELS)
    for path, code, message in (
        ("/v3/scores/frwiki/", 404, "No scorers available for frwiki"),
        ("/v3/scores/enwiki/?models=goodfaith|damaging&revids=1", 404,
         "Models ('goodfaith',) not available for enwiki"),
        ("/v3/scores/enwiki/?revids=" + "|".join(str(i) for i in range(1, 52)), 400,
         "Too many values for 'revids' parameter.  Max of 50."),
        ("/v3/scores/enwiki/?revids=12|twelve", 400, "Could not interpret revids."),
        ("/v3/scores/enwiki/0/", 400, "Could not interpret revid."),
    ):
        status, error = get(url + path)
        assert status == code and error["error"]["code"] == ("not found" if code == 404 else "bad request")
        assert error["error"]["message"].startswith(message), error
    body = urllib.parse.urlencode({"models": "reverted", "revids": f"{twenty[2]}|{twenty[3]}"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{url}/v3/scores/enwiki/", data=body, method="POST"),
                                timeout=60) as answer:
        assert set(json.load(answer)["enwiki"]["scores"]) == {str(twenty[2]), str(twenty[3])}


def test_a_second_request_comes_from_the_cache_also_after_a_restart(stack, twenty):
    flush(stack)
    hits = metric(stack, "lwt_cache_total", outcome="hit")
    status, first = v3(stack, twenty)
    after_first = stack["proxy"].count()
    status2, second = v3(stack, twenty)
    assert status == status2 == 200 and second == first
    assert stack["proxy"].count() == after_first  # no MediaWiki call
    assert metric(stack, "lwt_cache_total", outcome="hit") - hits == 2 * len(twenty)
    assert v1(stack, "damaging", twenty[0]) == first["enwiki"]["scores"][str(twenty[0])]["damaging"]
    assert stack["proxy"].count() == after_first  # v1 and v3 share the cache
    stack["services"].stop()
    stack["services"].start()
    status3, third = v3(stack, twenty)
    assert status3 == 200 and third == first and stack["proxy"].count() == after_first


def _page_change(page: dict, revision: dict, wiki: str = "enwiki", kind: str = "edit") -> dict:
    return {
        "$schema": "/mediawiki/page/change/1.2.0", "changelog_kind": "update" if kind == "edit" else "insert",
        "dt": revision["timestamp"], "wiki_id": wiki, "page_change_kind": kind,
        "meta": {"stream": "mediawiki.page_change.v1", "domain": "en.wikipedia.org", "dt": revision["timestamp"],
                 "id": f"00000000-0000-4000-8000-{revision['revid']:012d}"},
        "page": {"page_id": page["pageid"], "page_title": page["title"].replace(" ", "_"),
                 "namespace_id": page["ns"], "is_redirect": False},
        "performer": {"user_text": revision["user"], "groups": ["*"], "is_bot": False},
        "revision": {"rev_id": revision["revid"], "rev_dt": revision["timestamp"],
                     "rev_parent_id": revision.get("parentid", 0), "is_minor_edit": False,
                     "is_comment_visible": True, "is_content_visible": True, "is_editor_visible": True,
                     "editor": {"user_text": revision["user"]}},
    }


def _events(wiki, rev_ids: list[int]) -> dict[int, dict]:
    query = urllib.parse.urlencode({"action": "query", "prop": "revisions", "revids": "|".join(map(str, rev_ids)),
                                    "rvprop": "ids|timestamp|user", "format": "json", "formatversion": "2"})
    with urllib.request.urlopen(f"{wiki.api_url}?{query}", timeout=30) as answer:  # the wiki itself: not counted
        pages = json.load(answer)["query"]["pages"]
    return {r["revid"]: _page_change(p, r) for p in pages for r in p["revisions"]}


def test_an_event_stream_fills_the_cache_and_emits_valid_revision_score_events(stack, wiki, revs, twenty,
                                                                                tmp_path):
    flush(stack)
    scored = twenty[:8]
    by_rev = _events(wiki, [*scored, revs["hidden_text"], revs["page_creation_new_user"]])
    other_wiki = {**by_rev[scored[0]], "wiki_id": "frwiki"}
    deleted = {**by_rev[scored[1]], "page_change_kind": "delete", "changelog_kind": "delete"}
    stream = [by_rev[r] for r in scored[:4]] + ["{not json", other_wiki, by_rev[revs["hidden_text"]]] + \
        [{"$schema": "/mediawiki/page/change/1.2.0", "wiki_id": "enwiki"}, deleted,
         by_rev[revs["page_creation_new_user"]]] + [by_rev[r] for r in scored[4:]]
    events = [(json.dumps([{"topic": "eqiad.mediawiki.page_change.v1", "partition": 0, "offset": i}]),
               e if isinstance(e, str) else json.dumps(e)) for i, e in enumerate(stream)]
    refused = scored[2]
    with SseSource(events, drop_at=5) as source, \
            EventSink(refuse=lambda e: e.get("rev_id") == refused, fail_first=1) as sink:
        result = subprocess.run(
            [sys.executable, "-m", "lwt", "precache", "--source", f"{source.url}/v2/stream/mediawiki.page_change.v1",
             "--services", stack["services"].url, "--eventgate-url", sink.events_url, "--namespaces", "0",
             "--batch-size", "3", "--json", str(tmp_path / "summary.json")],
            capture_output=True, text=True, timeout=180, env={**os.environ, "LWT_CACHE_TIMEOUT": "2.0"})
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["received"] == len(events)  # each once, though the stream dropped mid-event
        # Resumed after the last whole event; then the end of the stream, a reconnect, and 204: over.
        assert source.connections == [None, events[4][0], events[-1][0]]
        assert summary["reconnects"] == 2 and summary["malformed"] == 2
        assert summary["skipped"] == {"wiki": 1, "kind": 1, "namespace": 1}
        assert summary["scored"] == len(scored) + 1 and summary["score_errors"] == len(MODELS)  # hidden text
        assert summary["events_out"] == {"sent": len(scored) - 1, "refused": 1, "failed": 0,
                                         "batches": summary["events_out"]["batches"]}
        assert "refused" in result.stderr and f"rev_id {refused} refused by this sink" in result.stderr
        assert "precache:" in result.stdout
        accepted = {e["rev_id"]: e for e in sink.accepted}
    assert sorted(accepted) == sorted(set(scored) - {refused})
    for event in accepted.values():
        assert list(sink.validator.iter_errors(event)) == []
    before = stack["proxy"].count()
    status, answer = v3(stack, scored)
    assert status == 200 and stack["proxy"].count() == before  # precached: no MediaWiki call
    for rev_id, event in accepted.items():
        for model in MODELS:
            score = answer["enwiki"]["scores"][str(rev_id)][model]["score"]
            out = event["scores"][model]
            assert out["prediction"] == [str(score["prediction"]).lower()]
            assert out["probability"] == pytest.approx(score["probability"], abs=1e-12)
            assert out["model_version"] == answer["enwiki"]["models"][model]["version"]


def test_the_precache_route_takes_one_event(stack, wiki, twenty):
    flush(stack)
    event = _events(wiki, [twenty[9]])[twenty[9]]
    status, answer = post(f"{stack['services'].url}/v3/precache", event)
    assert status == 200 and set(answer["enwiki"]["scores"][str(twenty[9])]) == set(MODELS)
    status, single = post(f"{stack['services'].url}/v1/models/enwiki-damaging:predict", {"event": event})
    assert status == 200  # the v1 route takes the event as Lift Wing does, and answers from the cache
    assert single["enwiki"]["scores"][str(twenty[9])]["damaging"] == answer["enwiki"]["scores"][str(twenty[9])]["damaging"]
    request = urllib.request.Request(f"{stack['services'].url}/v3/precache", method="POST",
                                     data=json.dumps({**event, "wiki_id": "frwiki"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as nothing:
        assert nothing.status == 204  # no models for that wiki, as ORES answered
    status, error = post(f"{stack['services'].url}/v3/precache", {"page_change_kind": "edit"})
    assert status == 400 and error["error"]["code"] == "bad request"


def test_anything_else_a_shared_redis_holds_is_a_miss(stack, twenty):
    flush(stack)
    rev_id = twenty[11]
    with redis_client.Redis(port=stack["redis"].port) as client:
        client.set(ScoreKey("enwiki", "damaging", rev_id, "0.5.1").text(), b"\xff not json")
        client.set(ScoreKey("enwiki", "reverted", rev_id, "0.1.0").text(), b"[1, 2]")
    status, answer = v3(stack, [rev_id])
    assert status == 200 and all("score" in e for e in answer["enwiki"]["scores"][str(rev_id)].values())


def test_requests_are_answered_with_redis_stopped(stack, twenty):
    errors = metric(stack, "lwt_cache_total", outcome="error")
    stack["redis"].stop()
    status, answer = v3(stack, twenty[10:15])
    assert status == 200 and all("score" in e for m in answer["enwiki"]["scores"].values() for e in m.values())
    assert v1(stack, "reverted", twenty[16])["score"]["prediction"] in (True, False)
    assert metric(stack, "lwt_cache_total", outcome="error") > errors
    assert "score cache unavailable" in stack["services"].log_path.read_text()


def test_lwt_cache_up_and_down(tmp_path):
    port = free_port()
    up = subprocess.Popen([sys.executable, "-m", "lwt", "cache", "up", "--port", str(port), "--dir", str(tmp_path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert up.stdout.readline().strip() == f"export LWT_CACHE=redis://127.0.0.1:{port}/0"
        with redis_client.Redis(port=port) as client:
            assert client.ping()
        down = subprocess.run([sys.executable, "-m", "lwt", "cache", "down", "--dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "cache stopped" in down.stdout
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:
            up.kill()
