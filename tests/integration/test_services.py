"""The revscoring transformer service end to end: real MediaWiki, real Triton, KServe."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from exporters.shipped.enwiki_features import REVERTED
from exporters.shipped.enwiki_reverted import train_enwiki_reverted
from lwt.stack.process import ServerError, free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki
from tests.integration import client, triton_stats

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"
MODEL = "enwiki-reverted"


@pytest.fixture(scope="session")
def stack(shipped_repo, wiki, tmp_path_factory):
    triton = TritonServer(shipped_repo, Ports(free_port(), free_port(), free_port()),
                          workdir=tmp_path_factory.mktemp("svc-triton")).start()
    # No score cache here: these tests count Triton calls and stop servers under the services.
    services = ServicesProcess(shipped_repo, free_port(), triton.http_url, wiki.api_url,
                               log_path=tmp_path_factory.mktemp("svc") / "services.log",
                               options={"cache": "none"}).start()
    yield triton, services
    services.stop()
    triton.stop()


def call(url: str, body: object, model: str = MODEL, raw: bytes | None = None) -> tuple[int, dict]:
    return client.predict(url, model, body, raw)


def p_true(answer: dict, rev_id: int) -> float:
    return answer["enwiki"]["scores"][str(rev_id)]["reverted"]["score"]["probability"]["true"]


@pytest.fixture(scope="session")
def revscoring_model(tmp_path_factory):
    """revscoring's own model object, trained exactly as the shipped export was."""
    from revscoring import Model

    path = train_enwiki_reverted(tmp_path_factory.mktemp("rs") / "enwiki.reverted.model")
    with open(path, "rb") as handle:
        return Model.load(handle)


@pytest.fixture(scope="session")
def reference_extractor(wiki):
    import mwapi
    from revscoring.extractors.api import Extractor

    return Extractor(mwapi.Session(wiki.api_url.rsplit("/", 1)[0], user_agent="liftwing-triton tests",
                                   api_path="/api.php"))


def test_vandalism_scores_higher_than_good_edits(stack, revs):
    _, services = stack
    scores = {role: p_true(call(services.url, {"rev_id": revs[role]})[1], revs[role])
              for role in ("good_edit", "bot_fix", "vandalism_badwords", "vandalism_informal", "vandalism_blanking")}
    for vandalism in ("vandalism_badwords", "vandalism_informal", "vandalism_blanking"):
        for good in ("good_edit", "bot_fix"):
            assert scores[vandalism] > scores[good], scores
    status, answer = call(services.url, {"rev_id": revs["vandalism_badwords"]})
    assert status == 200
    assert answer["enwiki"]["models"] == {"reverted": {"version": "0.1.0"}}
    score = answer["enwiki"]["scores"][str(revs["vandalism_badwords"])]["reverted"]["score"]
    assert score["prediction"] is True and set(score["probability"]) == {"true", "false"}


SCORABLE = ["created", "good_edit", "vandalism_badwords", "revert", "vandalism_keymash", "vandalism_blanking",
            "bot_fix", "created_by_ip", "vandalism_informal", "page_creation_new_user"]


def test_probability_equals_revscoring_own_score(stack, revs, revscoring_model, reference_extractor):
    _, services = stack
    for role in SCORABLE:
        values = list(reference_extractor.extract(revs[role], revscoring_model.features))
        expected = revscoring_model.score(values)["probability"][True]
        assert abs(p_true(call(services.url, {"rev_id": revs[role]})[1], revs[role]) - expected) <= 1e-5, role


def test_extended_output_equals_revscoring_api_extractor(stack, revs, reference_extractor):
    """In both orders: parents scored first (their text-derived datasources come from the
    services' text cache) and children first (computed afresh)."""
    _, services = stack
    card = yaml.safe_load((SHIPPED / MODEL / "1" / "model.yaml").read_text())
    for role in SCORABLE + SCORABLE[::-1]:
        status, answer = call(services.url, {"rev_id": revs[role], "extended_output": True})
        assert status == 200
        features = answer["enwiki"]["scores"][str(revs[role])]["reverted"]["features"]
        assert list(features) == card["features"]
        expected = list(reference_extractor.extract(revs[role], REVERTED))
        assert list(features.values()) == pytest.approx(expected, abs=1e-9), role


def test_rev_ids_batch_equals_single_calls(stack, revs):
    _, services = stack
    ids = [revs[r] for r in SCORABLE]
    status, batch = call(services.url, {"rev_ids": ids})
    assert status == 200
    for rev_id in ids:
        single = call(services.url, {"rev_id": rev_id})[1]
        assert batch["enwiki"]["scores"][str(rev_id)] == single["enwiki"]["scores"][str(rev_id)]


def test_a_batch_is_one_triton_call(stack, revs):
    triton, services = stack
    before = triton_stats.read(triton.http_url, MODEL)
    status, _ = call(services.url, {"rev_ids": [revs[r] for r in SCORABLE]})
    assert status == 200
    after = triton_stats.counted(triton.http_url, MODEL, before, rows=len(SCORABLE))
    assert after.executions - before.executions == 1


def test_a_batch_reports_bad_revisions_in_place(stack, revs):
    _, services = stack
    status, answer = call(services.url, {"rev_ids": [revs["good_edit"], 987654, revs["hidden_text"]]})
    assert status == 200
    scores = answer["enwiki"]["scores"]
    assert "score" in scores[str(revs["good_edit"])]["reverted"]
    assert scores["987654"]["reverted"]["error"]["type"] == "RevisionNotFound"
    assert scores[str(revs["hidden_text"])]["reverted"]["error"]["type"] == "TextDeleted"


@pytest.mark.parametrize(
    ("body", "raw", "status", "needle"),
    [
        (None, b"{not json", 400, ""),
        ({"rev_id": "12"}, None, 400, "integer"),
        ({"rev_id": 1.5}, None, 400, "integer"),
        ({"rev_id": True}, None, 400, "integer"),
        ({"rev_id": 2**63}, None, 400, "integer from 1 to"),
        ({"rev_ids": list(range(1, 52))}, None, 400, "at most 50"),
        ({"revision": 3}, None, 400, "rev_id"),
    ],
)
def test_bad_requests_get_400_without_traceback(stack, body, raw, status, needle):
    _, services = stack
    code, answer = call(services.url, body, raw=raw)
    assert code == status
    assert needle in json.dumps(answer) and "Traceback" not in json.dumps(answer)


def test_missing_and_hidden_revisions_are_named_in_the_ores_place(stack, revs):
    _, services = stack
    code, answer = call(services.url, {"rev_id": 987654})
    assert code == 404
    assert answer["enwiki"]["scores"]["987654"]["reverted"]["error"]["type"] == "RevisionNotFound"
    code, answer = call(services.url, {"rev_id": revs["hidden_text"]})
    assert code == 410
    error = answer["enwiki"]["scores"][str(revs["hidden_text"])]["reverted"]["error"]
    assert error["type"] == "TextDeleted" and str(revs["hidden_text"]) in error["message"]


def test_unknown_model_is_404(stack):
    _, services = stack
    assert call(services.url, {"rev_id": 3}, model="no-such-model")[0] == 404


def test_logs_and_metrics_per_stage(stack, revs):
    _, services = stack
    call(services.url, {"rev_id": revs["good_edit"]})
    lines = [json.loads(l) for l in services.log_path.read_text().splitlines() if l.startswith("{")]
    scored = [l for l in lines if l.get("message") == "scored" and revs["good_edit"] in l.get("keys", [])]
    assert scored and {"fetch_ms", "features_ms", "predict_ms"} <= set(scored[-1])
    with urllib.request.urlopen(f"{services.url}/metrics") as answer:
        metrics = answer.read().decode()
    for stage in ("fetch", "features", "predict"):
        assert f'lwt_stage_seconds_count{{model="{MODEL}",stage="{stage}"}}' in metrics


def test_grpc_to_triton_gives_the_same_answer(stack, shipped_repo, wiki, revs, tmp_path):
    triton, services = stack
    with ServicesProcess(shipped_repo, free_port(), triton.grpc_url, wiki.api_url, protocol="grpc-v2",
                         log_path=tmp_path / "grpc.log", options={"cache": "none"}) as grpc_services:
        ids = [revs[r] for r in SCORABLE]
        assert call(grpc_services.url, {"rev_ids": ids}) == call(services.url, {"rev_ids": ids})


class _Silent:
    """A loopback socket that accepts connections and never answers: a wiki too slow."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_wiki_stopped_mid_test_or_too_slow_is_a_bounded_5xx(shipped_repo, stack, tmp_path):
    triton, _ = stack
    own = LocalWiki(tmp_path / "w2", free_port()).start()
    revs2 = json.loads((own.folder / "revisions.json").read_text())
    with ServicesProcess(shipped_repo, free_port(), triton.http_url, own.api_url, log_path=tmp_path / "a.log",
                         options={"mediawiki-timeout": 3, "cache": "none"}) as services:
        assert call(services.url, {"rev_id": revs2["good_edit"]})[0] == 200
        own.stop()
        started = time.monotonic()
        code, answer = call(services.url, {"rev_id": revs2["good_edit"]})
        assert code in (502, 503) and answer["error"]["type"] == "MediaWikiUnavailable"
        assert time.monotonic() - started < 10
    silent = _Silent()
    try:
        with ServicesProcess(shipped_repo, free_port(), triton.http_url, f"http://127.0.0.1:{silent.port}/api.php",
                             log_path=tmp_path / "b.log", options={"mediawiki-timeout": 2}) as services:
            started = time.monotonic()
            code, answer = call(services.url, {"rev_id": 3})
            assert code == 504 and answer["error"]["type"] == "MediaWikiTimeout"
            assert time.monotonic() - started < 10
    finally:
        silent.close()


def test_a_stopped_triton_is_503(shipped_repo, wiki, revs, tmp_path):
    triton = TritonServer(shipped_repo, Ports(free_port(), free_port(), free_port()), workdir=tmp_path / "t").start()
    with ServicesProcess(shipped_repo, free_port(), triton.http_url, wiki.api_url, log_path=tmp_path / "s.log",
                         options={"cache": "none"}) as services:
        assert call(services.url, {"rev_id": revs["good_edit"]})[0] == 200
        triton.stop()
        code, answer = call(services.url, {"rev_id": revs["good_edit"]})
        assert code == 503 and answer["error"]["type"] == "PredictorUnavailable"
        assert "Traceback" not in json.dumps(answer)


def test_services_refuse_to_start_when_features_differ(shipped_repo, wiki, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(shipped_repo, repo)
    card_path = repo / MODEL / "1" / "model.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["features"][0], card["features"][1] = card["features"][1], card["features"][0]
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(ServerError, match="differ from the model card"):
        ServicesProcess(repo, free_port(), "127.0.0.1:1", wiki.api_url, log_path=tmp_path / "x.log").start()


def test_serve_with_services_and_wiki_cli(lwt, shipped_repo, tmp_path):
    wiki_port = free_port()
    wiki_process = subprocess.Popen([*lwt, "--log-level", "WARNING", "wiki", "up", "--dir", str(tmp_path / "w"),
                                     "--port", str(wiki_port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wiki_process.stdout.readline().strip() == f"MediaWiki API ready: http://127.0.0.1:{wiki_port}/api.php"
    ports = [str(free_port()) for _ in range(5)]
    serve = subprocess.Popen([*lwt, "--log-level", "WARNING", "serve", "--repository", str(shipped_repo),
                              "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2],
                              "--services", "--services-port", ports[3], "--supervisor-port", ports[4], "--workdir", str(tmp_path / "s"),
                              "--mediawiki-url", f"http://127.0.0.1:{wiki_port}/api.php"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Triton ready" in serve.stdout.readline()
        assert "Services ready" in serve.stdout.readline()
        revs = json.loads((tmp_path / "w" / "revisions.json").read_text())
        code, answer = call(f"http://127.0.0.1:{ports[3]}", {"rev_id": revs["vandalism_badwords"]})
        assert code == 200 and p_true(answer, revs["vandalism_badwords"]) > 0.5
    finally:
        serve.send_signal(2)
        assert serve.wait(timeout=60) == 0
        down = subprocess.run([*lwt, "wiki", "down", "--dir", str(tmp_path / "w")], capture_output=True, text=True)
        assert down.returncode == 0
        assert wiki_process.wait(timeout=30) == 0
    assert np.all([not _listening(int(p)) for p in ports + [str(wiki_port)]])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def text_stack(wiki, tmp_path_factory):
    """A revertrisk-shaped classifier (a BERT built from config) behind the text service."""
    from exporters.transformer.export import TransformerExportOptions, export_transformer
    from exporters.transformer.synthetic import build_bert_classifier

    source = build_bert_classifier(tmp_path_factory.mktemp("rr") / "model", "tiny", seed=3)
    repo = tmp_path_factory.mktemp("rr-repo") / "repository"
    export_transformer(source, TransformerExportOptions(name="revertrisk-multilingual", repository=repo,
                                                        task="sequence-classification", max_sequence_length=128,
                                                        progress=False))
    triton = TritonServer(repo, Ports(free_port(), free_port(), free_port()),
                          workdir=tmp_path_factory.mktemp("rr-triton")).start()
    services = ServicesProcess(repo, free_port(), triton.http_url, wiki.api_url,
                               log_path=tmp_path_factory.mktemp("rr-svc") / "services.log").start()
    yield source, services
    services.stop()
    triton.stop()


def _texts(wiki: LocalWiki, rev_id: int) -> tuple[str, str]:
    def text(rid: int) -> tuple[str, int]:
        url = (f"{wiki.api_url}?action=query&prop=revisions&revids={rid}&rvprop=content|ids&rvslots=main"
               "&format=json&formatversion=2")
        with urllib.request.urlopen(url) as answer:
            revision = json.load(answer)["query"]["pages"][0]["revisions"][0]
        return revision["slots"]["main"]["content"], revision.get("parentid", 0)

    current, parent_id = text(rev_id)
    return (text(parent_id)[0] if parent_id else ""), current


def test_text_service_answers_like_pytorch_on_the_revision_pair(text_stack, wiki, revs):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source, services = text_stack
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source).eval()
    for role in ("good_edit", "vandalism_badwords", "page_creation_new_user", "vandalism_blanking"):
        status, answer = call(services.url, {"rev_id": revs[role], "lang": "en"}, model="revertrisk-multilingual")
        assert status == 200
        assert answer["model_name"] == "revertrisk-multilingual" and answer["wiki_db"] == "enwiki"
        assert answer["revision_id"] == revs[role] and answer["model_version"] == "1"
        parent, current = _texts(wiki, revs[role])
        encoded = tokenizer(parent, current, truncation="longest_first", max_length=128, return_tensors="pt")
        with torch.no_grad():
            p_true = torch.softmax(model(**encoded).logits, dim=-1)[0, 1].item()
        output = answer["output"]
        assert abs(output["probabilities"]["true"] - p_true) <= 1e-4
        assert abs(output["probabilities"]["true"] + output["probabilities"]["false"] - 1) < 1e-6
        assert output["prediction"] == (p_true > 0.5)


def test_text_service_errors(text_stack, revs):
    _, services = text_stack
    assert call(services.url, {"rev_id": 987654, "lang": "en"}, model="revertrisk-multilingual")[0] == 404
    assert call(services.url, {"rev_id": revs["hidden_text"], "lang": "en"}, model="revertrisk-multilingual")[0] == 410
    assert call(services.url, {"rev_id": "1", "lang": "en"}, model="revertrisk-multilingual")[0] == 400
    assert call(services.url, {"rev_id": 3}, model="revertrisk-multilingual")[0] == 400  # lang is required
    assert call(services.url, {"rev_id": 3, "lang": "enwiki"}, model="revertrisk-multilingual")[0] == 400
    assert call(services.url, {"rev_id": 3, "lang": "../x"}, model="revertrisk-multilingual")[0] == 400


def test_every_worker_listens_once_the_services_are_ready_and_all_stop(stack, shipped_repo, wiki, tmp_path):
    """`--workers 2`: the shared port answers as soon as one worker listens, so readiness
    must mean that every worker has loaded and listens (a benchmark that started earlier
    measured one worker while the other was still loading)."""
    triton, _ = stack
    services = ServicesProcess(shipped_repo, free_port(), triton.http_url, wiki.api_url, models=[MODEL],
                               log_path=tmp_path / "w2.log", options={"cache": "none", "workers": 2}).start()
    try:
        workers = [p for p in psutil.Process(services.process.pid).children(recursive=True)
                   if "--reuse-port" in p.cmdline()]
        assert len(workers) == 2
        for worker in workers:
            assert any(c.status == psutil.CONN_LISTEN and c.laddr.port == services.port
                       for c in worker.connections(kind="tcp")), worker.pid
        assert client.predict(services.url, MODEL, {"rev_id": 3})[0] == 200
    finally:
        services.stop()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
