"""The `mini-embedding` service end to end: the real all-MiniLM-L6-v2 exported once for
this module, a real Triton, the fixture MediaWiki, `lwt index build` and the services.

Embeddings are compared with sentence-transformers' own computation in PyTorch (the
model's `modules.json`: Transformer -> mean Pooling -> Normalize), run here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
import yaml

from exporters.contract.card import read_card
from exporters.contract.layout import verify_version
from exporters.shipped.mini_embedding import build as export_mini_embedding
from exporters.shipped.mini_embedding import minilm_directory
from exporters.store.pull import pull_verified
from exporters.store.push import push
from exporters.store.s3 import client
from lwt.index_demo import demo_seed, recommend
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.swift import SwiftStore
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import FIXTURES
from tests.integration import client as web
from tests.integration import triton_stats
from transformers_svc.embedding_svc.index import (
    INDEX,
    MANIFEST,
    load_index,
    model_file_sha512,
)

MODEL = "mini-embedding"
TOPICS: dict[str, list[str]] = yaml.safe_load((FIXTURES / "topics.yaml").read_text())["topics"]
LONG = " ".join(["The Hubble Space Telescope observes distant galaxies from orbit."] * 60)  # > 256 tokens
TEXTS = ["Mars is the fourth planet from the Sun.", "a", "Saut\u00e9ing onions in butter \U0001F373",
         "Wer den Ball mit der Hand spielt, bekommt einen Elfmeter.", LONG,
         "Penalty kick\nA penalty kick is a shot at goal in association football."]


@pytest.fixture(scope="module")
def emb_repo(tmp_path_factory) -> Path:
    """The real MiniLM, exported once for this module (about 15 s) by the shipped builder."""
    repo = tmp_path_factory.mktemp("emb") / "repository"
    export_mini_embedding(repo, force=False, progress=False)
    return repo


@pytest.fixture(scope="module")
def emb_stack(emb_repo, wiki, tmp_path_factory):
    work = tmp_path_factory.mktemp("emb-stack")
    triton = TritonServer(emb_repo, Ports(free_port(), free_port(), free_port()), workdir=work / "triton").start()
    # gRPC to Triton, as `lwt serve` does; the index builder uses REST (--triton is the HTTP port).
    services = ServicesProcess(emb_repo, free_port(), triton.grpc_url, wiki.api_url, models=[MODEL],
                               protocol="grpc-v2", log_path=work / "services.log").start()
    yield triton, services
    services.stop()
    triton.stop()


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers' computation for this model, from its own module list."""
    source = minilm_directory()
    modules = [m["type"].rsplit(".", 1)[1] for m in json.loads((source / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((source / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    max_length = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(source, local_files_only=True).eval()

    def embed(text: str) -> np.ndarray:
        encoded = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)[0].numpy()

    return embed


def post(url: str, body: object = None, raw: bytes | None = None) -> tuple[int, dict]:
    return web.predict(url, MODEL, body, raw)


def get(url: str, **query: object) -> tuple[int, object]:
    return web.get(f"{url}/v1/models/{MODEL}/related?{urllib.parse.urlencode(query)}", timeout=30)


def lwt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lwt", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def indexed(emb_stack, emb_repo, wiki):
    """The running services first without an index, then with the fixture wiki's, built by
    the `make demo` step (`lwt index build` through the running Triton) and picked up by the
    services without a restart."""
    triton, services = emb_stack
    before = get(services.url, title="Mars")
    return before, recommend(emb_repo, triton, wiki, services.url)


def test_embeddings_equal_pytorch_sentence_transformers(emb_stack, reference):
    _, services = emb_stack
    for text in TEXTS:
        status, answer = post(services.url, {"text": text})
        assert status == 200, answer
        assert answer["model_name"] == MODEL and answer["model_version"] == "1"
        vector = np.asarray(answer["embedding"])
        assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-5
        assert np.max(np.abs(vector - reference(text))) <= 1e-4, text[:40]


def test_instances_equal_singles_in_one_triton_call(emb_stack):
    triton, services = emb_stack
    singles = [np.asarray(post(services.url, {"text": t})[1]["embedding"]) for t in TEXTS]
    texts = (TEXTS * 11)[:64]  # the most a request may hold, duplicates included
    before = triton_stats.read(triton.http_url, MODEL)
    status, answer = post(services.url, {"instances": [{"text": t} for t in texts]})
    assert status == 200, answer
    after = triton_stats.counted(triton.http_url, MODEL, before, rows=len(set(texts)))
    assert after.requests - before.requests == 1  # one Triton call ...
    assert after.inferences - before.inferences == len(set(texts))  # ... holding each distinct text once
    assert len(answer["predictions"]) == 64
    for text, prediction in zip(texts, answer["predictions"]):
        assert prediction["model_name"] == MODEL and prediction["model_version"] == "1"
        assert np.allclose(prediction["embedding"], singles[TEXTS.index(text)], atol=1e-6)


@pytest.mark.parametrize("body", [
    {"text": ""}, {"text": "   "}, {"text": 3}, {"text": None}, {"text": ["a"]}, {}, {"texts": "a"},
    {"text": "a", "instances": [{"text": "b"}]}, {"instances": []}, {"instances": "a"}, {"instances": [3]},
    {"instances": [{"text": "ok"}, {"text": ""}]}, {"instances": [{"txt": "a"}]},
    {"instances": [{"text": "a"}] * 65}, [{"text": "a"}], "text", {"text": "\ud800 lone surrogate"},
])
def test_bad_inputs_are_400(emb_stack, body):
    _, services = emb_stack
    status, answer = post(services.url, body)
    assert status == 400 and answer["error"]["type"] == "BadRequest", answer


def test_bodies_that_are_not_json_too_long_or_too_large_are_400(emb_stack):
    _, services = emb_stack
    assert post(services.url, raw=b"{not json")[0] == 400
    status, answer = post(services.url, {"text": "x" * 10_001})
    assert status == 400 and "over 10000 characters" in answer["error"]["message"]
    status, body = web.declare_only(services.port, f"/v1/models/{MODEL}:predict", 1_100_000)
    assert status == 400 and "over 1000000 bytes" in body["error"]["message"]


def test_related_without_an_index_is_404_saying_how_to_build_one(indexed):
    (status, answer), _ = indexed
    assert status == 404 and "lwt index build" in answer["error"]["message"]


def test_the_demo_step_recommends_the_seeds_neighbours(indexed):
    _, recommended = indexed
    assert demo_seed() == "Mars" and len(recommended) == 3
    titles = [r["title"] for r in recommended]
    assert "Mars" not in titles and not set(titles) & set(TOPICS["cooking"] + TOPICS["football"]), titles


def test_the_index_is_built_beside_the_model_and_verified_with_it(indexed, emb_repo, wiki):
    version = emb_repo / MODEL / "1"
    manifest = json.loads((version / INDEX / MANIFEST).read_text())
    card = read_card(version)
    assert manifest["model"] == MODEL and manifest["model_version"] == card.model_version == "1"
    assert manifest["model_sha512"] == model_file_sha512(version, card)[1]
    assert manifest["wiki"] == wiki.api_url and manifest["kind"] == "flat" and manifest["dimension"] == 384
    assert manifest["pages"] >= sum(len(t) for t in TOPICS.values())
    assert verify_version(version) == []  # SHA512SUMS lists the index: pushed and pulled with the model
    assert f"{INDEX}/vectors.faiss" in (version / "SHA512SUMS").read_text()


def test_the_index_is_pushed_pulled_and_verified_with_the_model(indexed, emb_repo, tmp_path):
    with SwiftStore(tmp_path / "swift", free_port()) as store:
        env = store.environment()
        s3 = client(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                    env["AWS_DEFAULT_REGION"])
        push(emb_repo, "s3://models/emb", s3, progress=False)
        pull_verified("s3://models/emb", tmp_path / "pulled", s3, progress=False)
    version = tmp_path / "pulled" / MODEL / "1"
    assert verify_version(version) == []
    card = read_card(version)
    index = load_index(version, card, MODEL, model_file_sha512(version, card)[1])
    assert index is not None and index.position("Mars") is not None


def test_related_pages_are_topical_neighbours(indexed, emb_stack):
    _, services = emb_stack
    topic_of = {title: topic for topic, titles in TOPICS.items() for title in titles}
    for title, topic in topic_of.items():
        status, found = get(services.url, title=title, count=24)
        assert status == 200, found
        titles = [r["title"] for r in found]
        scores = [r["score"] for r in found]
        assert title not in titles and scores == sorted(scores, reverse=True) and len(found) <= 24
        # Pages of other fixture dumps may rank anywhere; among the topic pages, a page's
        # three nearest are the three others of its own topic.
        ranked = [t for t in titles if t in topic_of]
        assert sorted(ranked[:3]) == sorted(set(TOPICS[topic]) - {title}), (title, ranked)


def test_related_queries(indexed, emb_stack):
    _, services = emb_stack
    status, found = get(services.url, title="penalty_kick", count=2)  # MediaWiki's spellings of a title
    assert status == 200 and [r["title"] for r in found] == ["Goalkeeper (association football)",
                                                              "Offside (association football)"]
    assert get(services.url, title="Saut\u00e9ing", count=1)[0] == 200
    assert len(get(services.url, title="Mars")[1]) == 12  # the default count
    status, answer = get(services.url, title="No such page")
    assert status == 404 and answer["error"]["type"] == "NotFound"
    for query in ({"title": "Mars", "count": 0}, {"title": "Mars", "count": 25}, {"title": "Mars", "count": "x"},
                  {"count": 3}, {"title": " "}):
        assert get(services.url, **query)[0] == 400, query


def test_the_cli_starts_triton_itself_and_builds_an_approximate_index(emb_repo, wiki, tmp_path):
    repo = tmp_path / "copy"
    # Hard links: the build replaces files (rename), it never writes through them.
    shutil.copytree(emb_repo, repo, ignore=shutil.ignore_patterns(INDEX), copy_function=os.link)
    built = lwt("index", "build", "--wiki", wiki.api_url, "--repository", str(repo), "--model", MODEL,
                "--index", "hnsw", "--no-progress")
    assert built.returncode == 0, built.stderr[-2000:]
    version = repo / MODEL / "1"
    card = read_card(version)
    index = load_index(version, card, MODEL, model_file_sha512(version, card)[1])
    assert index is not None and index.manifest.kind == "hnsw" and verify_version(version) == []
    ranked = [r.title for r in index.related(index.position("Mars"), 24) if r.title in sum(TOPICS.values(), [])]
    assert sorted(ranked[:3]) == sorted(set(TOPICS["astronomy"]) - {"Mars"})


def test_an_index_built_with_another_model_version_is_refused_at_start(indexed, emb_repo, tmp_path):
    """Version 2 of the model (same files, a new version) beside the index built for 1."""
    repo = tmp_path / "repository"
    shutil.copytree(emb_repo, repo, copy_function=os.link)
    shutil.copytree(repo / MODEL / "1", repo / MODEL / "2", copy_function=os.link)
    card = repo / MODEL / "2" / "model.yaml"
    text = card.read_text()
    card.unlink()  # a hard link to the original card: replaced, not written through
    card.write_text(text.replace("model_version: '1'", "model_version: '2'"))
    run = lwt("services", "--repository", str(repo), "--port", str(free_port()), "--models", MODEL,
              "--predictor-host", "127.0.0.1:9")
    assert run.returncode == 1
    assert "was built with mini-embedding version 1, not mini-embedding version 2" in run.stderr
    assert "lwt: error:" in run.stderr and "Traceback" not in run.stderr


def test_bad_index_build_flags_are_one_line_errors(emb_repo, wiki):
    for args, code in ((["--wiki", "ftp://x", "--model", MODEL], 2), (["--wiki", wiki.api_url, "--model", "nope"], 2),
                       (["--wiki", wiki.api_url, "--model", MODEL, "--triton", "not a host"], 2)):
        run = lwt("index", "build", "--repository", str(emb_repo), *args)
        assert run.returncode == code and run.stderr.startswith("lwt: error:"), run.stderr
