"""articlequality, draftquality (multi-class), articletopic and drafttopic (multi-label, word
vectors) end to end: revscoring's own model classes trained here, exported by `lwt export
tree`'s exporter, served by the real Triton behind the revscoring service, against the real
local wiki. Every answer is checked against revscoring's own `ScoringModel.score`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mwapi
import numpy as np
import pytest
import yaml
from revscoring.errors import TextDeleted
from revscoring.extractors.api import Extractor

from exporters.contract.layout import SHA512SUMS, parse_sha512sums
from exporters.tree.export import TreeExportOptions, export_tree
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from tests.integration import client
from tests.integration.families import QUALITY, TOPICS, Family, build_families, words_of

FAMILIES = ("articlequality", "draftquality", "articletopic", "drafttopic")
MULTILABEL = {"articletopic", "drafttopic"}
WEIGHTS = dict(zip(QUALITY, range(6)))  # articlequality's Stub=0 ... FA=5


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> dict[str, Family]:
    return build_families(tmp_path_factory.mktemp("families"))


@pytest.fixture(scope="module")
def families_repo(families, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("families-repo") / "repository"
    for family in families.values():
        export_tree(family.path, TreeExportOptions(name=family.name, repository=repo, progress=False))
    return repo


@pytest.fixture(scope="module")
def stack(families_repo, wiki, tmp_path_factory):
    work = tmp_path_factory.mktemp("families-stack")
    triton = TritonServer(families_repo, Ports(free_port(), free_port(), free_port()), workdir=work / "t").start()
    services = ServicesProcess(families_repo, free_port(), triton.http_url, wiki.api_url,
                               log_path=work / "services.log", options={"cache": "none"}).start()
    yield triton, services
    services.stop()
    triton.stop()


def call(url: str, model: str, body: Any) -> tuple[int, dict]:
    return client.predict(url, f"enwiki-{model}", body, timeout=120)


def scores(url: str, model: str, rev_ids: list[int], extended: bool = False) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for start in range(0, len(rev_ids), 50):
        status, answer = call(url, model, {"rev_ids": rev_ids[start:start + 50], "extended_output": extended})
        assert status == 200, answer
        out.update({int(k): v[model] for k, v in answer["enwiki"]["scores"].items()})
    return out


@pytest.fixture(scope="module")
def references(families, wiki, revs) -> dict[str, dict[int, Any]]:
    """revscoring's own answer for every fixture revision: its API extractor reads the wiki,
    its ScoringModel scores (TextDeleted where the text is hidden)."""
    extractor = Extractor(mwapi.Session(wiki.api_url.rsplit("/", 1)[0], user_agent="liftwing-triton tests",
                                        api_path="/api.php"))
    ids = sorted(set(revs.values()))
    out: dict[str, dict[int, Any]] = {}
    for key, family in families.items():
        found = {}
        for rev_id, (error, values) in zip(ids, extractor.extract(ids, family.model.features)):
            found[rev_id] = error if error is not None else (values, family.model.score(values))
        out[key] = found
    return out


@pytest.mark.parametrize("key", FAMILIES)
def test_served_answer_equals_revscorings_score_on_every_fixture_revision(stack, families, references, key):
    _, services = stack
    model, expected = families[key].model, references[key]
    served = scores(services.url, key, list(expected))
    scored = 0
    for rev_id, reference in expected.items():
        if isinstance(reference, Exception):
            assert isinstance(reference, TextDeleted) and served[rev_id]["error"]["type"] == "TextDeleted", rev_id
            continue
        got, want = served[rev_id]["score"], reference[1]
        assert set(got["probability"]) == {str(k) for k in want["probability"]}
        for label, p in want["probability"].items():
            assert abs(got["probability"][str(label)] - p) <= 1e-5, (key, rev_id, label)
        if key in MULTILABEL:  # each label's decision as revscoring makes it (away from an exact 0.5)
            clear = [l for l in model.labels if abs(want["probability"][l] - 0.5) > 1e-5]
            assert [l for l in got["prediction"] if l in clear] == [l for l in want["prediction"] if l in clear]
        elif got["prediction"] != want["prediction"]:  # only a tie may differ
            top = sorted(want["probability"].values())[-2:]
            assert top[1] - top[0] <= 1e-5, (key, rev_id)
        scored += 1
    assert scored >= 100


def test_multiclass_output_has_every_class_in_the_estimators_order(stack, families, revs):
    _, services = stack
    for key in ("articlequality", "draftquality"):
        classes = [str(c) for c in families[key].model.estimator.classes_]
        score = scores(services.url, key, [revs["good_edit"]])[revs["good_edit"]]["score"]
        assert list(score["probability"]) == classes and isinstance(score["prediction"], str)
        assert score["prediction"] == max(score["probability"], key=score["probability"].get)
        assert abs(sum(score["probability"].values()) - 1) < 1e-5
    assert classes == ["OK", "attack", "spam", "vandalism"]


def test_multilabel_output_lists_every_label_above_one_half(stack, families, revs):
    _, services = stack
    for key in ("articletopic", "drafttopic"):
        for entry in scores(services.url, key, [revs["good_edit"], revs["created"], revs["vandalism_blanking"]]).values():
            score = entry["score"]
            assert list(score["probability"]) == TOPICS and isinstance(score["prediction"], list)
            assert score["prediction"] == [l for l in TOPICS if score["probability"][l] >= 0.5]


def test_articlequality_extended_output_adds_the_weighted_sum(stack, revs):
    _, services = stack
    ids = [revs["good_edit"], revs["vandalism_blanking"], revs["created"]]
    for rev_id, entry in scores(services.url, "articlequality", ids, extended=True).items():
        score = entry["score"]
        assert score["weighted_sum"] == pytest.approx(sum(WEIGHTS[c] * p for c, p in score["probability"].items()))
        assert 0 <= score["weighted_sum"] <= 5 and len(entry["features"]) == 10
    assert "weighted_sum" not in scores(services.url, "articlequality", ids)[ids[0]]["score"]
    assert "weighted_sum" not in scores(services.url, "draftquality", ids, extended=True)[ids[0]]["score"]


def test_extended_features_are_revscorings_own_values(stack, families, references, revs):
    """The vector feature reported as revscoring computes it: the mean of the known words' vectors."""
    _, services = stack
    for key in ("articletopic", "articlequality"):
        names = [str(f) for f in families[key].model.features]
        ids = [revs["good_edit"], revs["vandalism_informal"], revs["page_creation_new_user"]]
        for rev_id, entry in scores(services.url, key, ids, extended=True).items():
            assert list(entry["features"]) == names
            for got, want in zip(entry["features"].values(), references[key][rev_id][0]):
                assert np.allclose(got, want, rtol=0, atol=1e-12), (key, rev_id)


def test_word_ids_of_a_batch_answer_as_single_requests(stack, revs):
    """Padding to the batch's width changes nothing: each row is its own mean."""
    _, services = stack
    ids = [revs["good_edit"], revs["vandalism_blanking"], revs["page_creation_new_user"], revs["created"]]
    batch = scores(services.url, "articletopic", ids)
    for rev_id in ids:
        assert scores(services.url, "articletopic", [rev_id])[rev_id] == batch[rev_id]


def test_the_version_folder_holds_vocabulary_and_vectors(families_repo, families):
    version = families_repo / "enwiki-articletopic" / "1"
    listed = parse_sha512sums((version / SHA512SUMS).read_text())
    assert {"vocab.txt", "word_vectors.npy", "model.onnx", "revscoring_features.pickle"} <= set(listed)
    card = yaml.safe_load((version / "model.yaml").read_text())
    info = card["word_vectors"]
    kv = families["articletopic"].model.features[0].dependencies[0].process.keyed_vectors
    assert (info["dim"], info["vocabulary_size"], info["feature_index"], info["column"]) == (24, len(kv), 0, 0)
    assert (version / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == list(kv.index_to_key)
    assert np.array_equal(np.load(version / "word_vectors.npy"), kv.vectors)
    assert [t["name"] for t in card["inputs"]] == ["word_ids", "input"]
    drafttopic = yaml.safe_load((families_repo / "enwiki-drafttopic" / "1" / "model.yaml").read_text())
    assert [t["name"] for t in drafttopic["inputs"]] == ["word_ids"]  # the mean is its only feature
    assert "istanbul" in words_of("İstanbul") and "istanbul" in kv.key_to_index


@pytest.mark.parametrize(("body", "needle"), [
    ({"rev_id": "12"}, "integer"),
    ({"rev_id": 3, "extended_output": "yes"}, "extended_output"),
    ({"rev_ids": list(range(1, 52))}, "at most 50"),
    ({"rev_ids": []}, "non-empty"),
    ({"lang": "en"}, "rev_id"),
])
def test_bad_requests_are_400(stack, body, needle):
    _, services = stack
    for key in FAMILIES:
        status, answer = call(services.url, key, body)
        assert status == 400 and needle in json.dumps(answer), (key, answer)
