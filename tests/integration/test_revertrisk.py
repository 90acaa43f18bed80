"""revertrisk-language-agnostic end to end: an XGBoost model trained here on the fixture
dumps, exported by the tree exporter, served by the real Triton behind the services, scoring
the real local wiki's revisions with Lift Wing's request and response shapes."""

from __future__ import annotations

import copy
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost
import yaml

from exporters.contract.card import read_card
from exporters.revertrisk.features import (
    FEATURE_NAMES,
    NamespaceNames,
    main_text,
    revision_features,
)
from exporters.shipped import revertrisk_la
from exporters.tree.export import TreeExportOptions, export_tree
from lwt.stack.process import ServerError, free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki
from tests.integration import client, triton_stats

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "model_repository"
MODEL = "revertrisk-language-agnostic"
PAGE_CHANGE = ROOT / "transformers_svc" / "event_schemas" / "mediawiki_page_change_1.2.0.yaml"


# --- the reference: the wiki read revision by revision, the model file's own answer ------------

def api(wiki: LocalWiki, **params: Any) -> dict:
    query = urllib.parse.urlencode({"format": "json", "formatversion": 1, **params})
    with urllib.request.urlopen(f"{wiki.api_url}?{query}", timeout=30) as answer:
        return json.load(answer)


def _page_of(doc: dict) -> dict | None:
    pages = [p for p in doc["query"].get("pages", {}).values() if p.get("revisions")]
    return pages[0] if pages else None


def reference_features(wiki: LocalWiki, rev_id: int) -> list[float] | None:
    """The features from one API call per item (revision, parent, editor, the page's first
    revision through `rvdir=newer`): independent of the service's batched three-call fetch.
    None when the revision's or its parent's text is hidden."""
    props = "ids|user|userid|timestamp|comment|content|flags|size|contentmodel|tags"
    page = _page_of(api(wiki, action="query", prop="revisions", revids=rev_id, rvprop=props, rvslots="main"))
    revision = page["revisions"][0]
    parent = None
    if revision.get("parentid"):
        parent = _page_of(api(wiki, action="query", prop="revisions", revids=revision["parentid"], rvprop=props,
                              rvslots="main"))
    if main_text(revision) is None or (parent is not None and main_text(parent["revisions"][0]) is None):
        return None
    user = None
    if revision.get("userid"):
        user = api(wiki, action="query", list="users", ususers=revision["user"],
                   usprop="groups|registration|editcount")["query"]["users"][0]
    first = _page_of(api(wiki, action="query", prop="revisions", pageids=page["pageid"], rvdir="newer", rvlimit=1,
                         rvprop="timestamp"))
    names = NamespaceNames.from_siteinfo(api(wiki, action="query", meta="siteinfo",
                                             siprop="namespaces|namespacealiases"))
    return revision_features(page, parent, user, first["revisions"][0]["timestamp"], names)


def live_rev_ids(wiki: LocalWiki, title: str) -> list[int]:
    page = _page_of(api(wiki, action="query", prop="revisions", titles=title, rvdir="newer", rvlimit="max",
                        rvprop="ids"))
    return [int(r["revid"]) for r in page["revisions"]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[xgboost.XGBClassifier, Path]:
    """An XGBoost trained here (other settings than the shipped one), exported as a user would."""
    work = tmp_path_factory.mktemp("rr-model")
    model = revertrisk_la.train(revertrisk_la.examples(), work / "model.json", n_estimators=40, max_depth=4,
                                learning_rate=0.2)
    (work / "features.txt").write_text("\n".join(FEATURE_NAMES) + "\n")
    repo = work / "repository"
    export_tree(work / "model.json", TreeExportOptions(name=MODEL, repository=repo, service=MODEL, progress=False,
                                                       feature_names=work / "features.txt"))
    return model, repo


@pytest.fixture(scope="module")
def rr_stack(trained, wiki, tmp_path_factory):
    _, repo = trained
    work = tmp_path_factory.mktemp("rr-stack")
    triton = TritonServer(repo, Ports(free_port(), free_port(), free_port()), workdir=work / "triton").start()
    services = ServicesProcess(repo, free_port(), triton.http_url, wiki.api_url, log_path=work / "services.log",
                               options={"cache": "none"}).start()
    yield triton, services
    services.stop()
    triton.stop()


def call(url: str, body: Any, raw: bytes | None = None) -> tuple[int, dict]:
    return client.predict(url, MODEL, body, raw)


def scored_lines(services: ServicesProcess) -> list[dict]:
    return [json.loads(l) for l in services.log_path.read_text().splitlines()
            if l.startswith("{") and '"scored"' in l and MODEL in l]


@pytest.fixture(scope="module")
def references(wiki, revs) -> dict[int, list[float] | None]:
    return {rev_id: reference_features(wiki, rev_id) for rev_id in sorted(set(revs.values()))}


# --- parity ---------------------------------------------------------------------------------------

def test_served_probability_equals_xgboost_on_every_fixture_revision(rr_stack, trained, references):
    _, services = rr_stack
    model, _ = trained
    ids = list(references)
    for start in range(0, len(ids), 20):
        chunk = ids[start:start + 20]
        status, answer = call(services.url, {"instances": [{"lang": "en", "rev_id": r} for r in chunk]})
        assert status == 200
        for rev_id, prediction in zip(chunk, answer["predictions"]):
            assert prediction["revision_id"] == rev_id
            features = references[rev_id]
            if features is None:
                assert prediction["error"]["type"] == "TextDeleted", prediction
                continue
            expected = float(model.predict_proba(np.array([features], dtype=np.float32))[0, 1])
            output = prediction["output"]
            assert abs(output["probabilities"]["true"] - expected) <= 1e-5, (rev_id, output, expected)
            assert output["prediction"] == (output["probabilities"]["true"] > 0.5)
    assert sum(f is not None for f in references.values()) >= 50


def test_the_features_it_was_trained_on_are_the_features_served(wiki, references):
    """Train/serve skew: each labelled dump revision's training features equal what the live
    wiki gives (edit counts are today's: at least the dumps' own)."""
    count = FEATURE_NAMES.index("user_edit_count")
    ids: dict[str, list[int]] = {}
    examples = revertrisk_la.examples()
    for example in examples:
        title = example.revision.title
        rev_id = ids.setdefault(title, live_rev_ids(wiki, title))[example.revision.index]
        served = references.get(rev_id) or reference_features(wiki, rev_id)
        trained = example.features()
        assert served[:count] + served[count + 1:] == trained[:count] + trained[count + 1:], example.role
        assert served[count] >= trained[count] or served[count] == trained[count] == -1
    assert len(examples) >= 50 and sum(e.label for e in examples) >= 15


# --- Lift Wing's shapes ----------------------------------------------------------------------------

def test_single_answer_has_lift_wings_shape(rr_stack, revs):
    _, services = rr_stack
    status, answer = call(services.url, {"lang": "en", "rev_id": revs["vandalism_badwords"]})
    assert status == 200
    assert set(answer) == {"model_name", "model_version", "wiki_db", "revision_id", "output"}
    assert (answer["model_name"], answer["model_version"], answer["wiki_db"], answer["revision_id"]) == \
        (MODEL, "1", "enwiki", revs["vandalism_badwords"])
    output = answer["output"]
    assert set(output) == {"prediction", "probabilities"} and isinstance(output["prediction"], bool)
    assert set(output["probabilities"]) == {"true", "false"}
    assert abs(sum(output["probabilities"].values()) - 1) < 1e-6


def test_an_event_is_scored_like_its_revision(rr_stack, revs):
    _, services = rr_stack
    event = copy.deepcopy(yaml.safe_load(PAGE_CHANGE.read_text())["examples"][0])
    event["wiki_id"] = "enwiki"
    event["revision"]["rev_id"] = revs["vandalism_keymash"]
    status, answer = call(services.url, {"event": event})
    assert status == 200
    assert answer == call(services.url, {"lang": "en", "rev_id": revs["vandalism_keymash"]})[1]


def test_instances_are_one_triton_call_and_at_most_three_mediawiki_calls(trained, wiki, tmp_path):
    """A cold service (no page dated yet): twenty revisions of many pages, none of whose
    first revision is in the batch, cost three MediaWiki calls (revisions; parents and
    editors; Special:Export for the pages' creations) and one Triton execution; once the
    creations are known, two."""
    _, repo = trained
    titles = sorted({e.revision.title for e in revertrisk_la.examples() if "revert-risk" in e.revision.title})
    ids = sorted(r for t in titles for r in live_rev_ids(wiki, t)[2:])[:20]  # neither the first nor its child
    assert len(ids) == 20 and len(titles) >= 6
    with TritonServer(repo, Ports(free_port(), free_port(), free_port()), workdir=tmp_path / "t") as triton, \
            ServicesProcess(repo, free_port(), triton.http_url, wiki.api_url, log_path=tmp_path / "s.log",
                            options={"cache": "none"}) as services:
        body = {"instances": [{"lang": "en", "rev_id": r} for r in ids]}
        before = triton_stats.read(triton.http_url, MODEL)
        status, first = call(services.url, body)
        assert status == 200 and len(first["predictions"]) == 20
        assert triton_stats.counted(triton.http_url, MODEL, before, rows=20).executions - before.executions == 1
        assert call(services.url, body) == (200, first)
        calls = [line["mediawiki_calls"] for line in scored_lines(services)]
    assert calls == [3, 2]


def test_errors_belong_to_their_revision(rr_stack, revs):
    _, services = rr_stack
    status, answer = call(services.url, {"instances": [{"lang": "en", "rev_id": revs["good_edit"]},
                                                       {"lang": "en", "rev_id": 987654},
                                                       {"lang": "en", "rev_id": revs["hidden_text"]}]})
    assert status == 200
    good, missing, hidden = answer["predictions"]
    assert "output" in good and missing["error"]["type"] == "RevisionNotFound"
    assert hidden["error"]["type"] == "TextDeleted" and hidden["revision_id"] == revs["hidden_text"]
    status, answer = call(services.url, {"lang": "en", "rev_id": 987654})
    assert status == 404 and answer["error"]["type"] == "RevisionNotFound" and answer["revision_id"] == 987654
    status, answer = call(services.url, {"lang": "en", "rev_id": revs["sysop_restore"]})  # its parent is hidden
    assert status == 410 and "parent" in answer["error"]["message"]


@pytest.mark.parametrize(("body", "needle"), [
    ({"lang": "enwiki", "rev_id": 3}, "language code"),
    ({"rev_id": 3}, "missing lang"),
    ({"lang": "en"}, "missing rev_id"),
    ({"instances": [{"lang": "en", "rev_id": 3}, {"lang": "de", "rev_id": 4}]}, "one language"),
    ({"instances": [{"lang": "en", "rev_id": 3}, {"rev_id": 4}]}, "missing lang"),
    ({"instances": [{"lang": "en", "rev_id": i} for i in range(1, 22)]}, "at most 20"),
    ({"instances": []}, "non-empty"),
    ({"lang": "en", "rev_id": "12"}, "integer"),
    ({"lang": "en", "rev_id": 2**40}, "integer from 1 to"),
    ({"event": {"wiki_id": "enwiki"}}, "not a valid"),
    ({"revision": 3}, "expected"),
])
def test_bad_requests_are_400(rr_stack, body, needle):
    _, services = rr_stack
    status, answer = call(services.url, body)
    assert status == 400 and answer["error"]["type"] == "BadRequest"
    assert needle in answer["error"]["message"] and "Traceback" not in json.dumps(answer)


def test_not_json_is_400(rr_stack):
    _, services = rr_stack
    assert call(services.url, None, raw=b"{nope")[0] == 400


def test_services_refuse_a_card_whose_features_differ(trained, wiki, tmp_path):
    _, repo = trained
    copy_repo = tmp_path / "repo"
    shutil.copytree(repo, copy_repo)
    card_path = copy_repo / MODEL / "1" / "model.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["features"][3], card["features"][4] = card["features"][4], card["features"][3]
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(ServerError, match="features differ"):
        ServicesProcess(copy_repo, free_port(), "127.0.0.1:1", wiki.api_url, log_path=tmp_path / "x.log").start()


# --- the shipped demonstration model ----------------------------------------------------------------

def test_the_shipped_model_is_a_demonstration_served_as_trained(wiki, references, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(SHIPPED / MODEL, repo / MODEL)
    card = read_card(repo / MODEL / "1")
    assert card.demonstration and card.service == MODEL and card.features == list(FEATURE_NAMES)
    model = revertrisk_la.train(revertrisk_la.examples(), tmp_path / "model.json")  # deterministic: as shipped
    ids = [r for r, f in references.items() if f is not None][:20]
    with TritonServer(repo, Ports(free_port(), free_port(), free_port()), workdir=tmp_path / "t") as triton, \
            ServicesProcess(repo, free_port(), triton.http_url, wiki.api_url, log_path=tmp_path / "s.log") as services:
        status, answer = call(services.url, {"instances": [{"lang": "en", "rev_id": r} for r in ids]})
    assert status == 200
    expected = model.predict_proba(np.array([references[r] for r in ids], dtype=np.float32))[:, 1]
    served = [p["output"]["probabilities"]["true"] for p in answer["predictions"]]
    assert np.max(np.abs(np.array(served) - expected)) <= 1e-5
