"""`lwt export seq2seq` on the tiny synthetic mBART, run as users run it: the served graphs'
tokens equal generate()'s, the entries and cards are complete, int8 reports its agreement,
and a failed parity check writes nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from exporters.contract.card import read_card
from exporters.contract.layout import CARD, SHA512SUMS, verify_version
from exporters.seq2seq import triton_model
from exporters.seq2seq.synthetic import build_mbart
from exporters.transformer.synthetic import build_bert_classifier
from exporters.triton_config import read_config

NAME = "article-descriptions"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_mbart(tmp_path_factory.mktemp("tiny") / "mbart", "tiny")


def export(lwt: list[str], model: Path, repository: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([*lwt, "--log-level", "WARNING", "export", "seq2seq", str(model), "--repository",
                           str(repository), "--json", "--no-progress", *flags], capture_output=True, text=True,
                          timeout=600)


def test_export_writes_both_entries_with_parity(lwt, tiny, tmp_path):
    repo = tmp_path / "repo"
    done = export(lwt, tiny, repo, "--name", NAME, "--demonstration")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    parity = summary["parity"]
    assert parity["passed"] and parity["rows"] >= 20 and parity["labels_identical"]
    assert parity["max_abs_diff"] < 1e-4  # first-step logits
    assert summary["token_parity"] == {"greedy": "26/26", "beam2": "26/26", "beam4": "26/26"}

    generator, encoder = repo / NAME / "1", repo / f"{NAME}-encoder" / "1"
    for version in (generator, encoder):
        assert verify_version(version) == [] and (version / SHA512SUMS).is_file()
    assert read_config(repo / NAME / "config.pbtxt").backend == "python"
    assert read_config(repo / f"{NAME}-encoder" / "config.pbtxt").backend == "onnxruntime"
    assert (generator / "model.py").read_bytes() == Path(triton_model.__file__).read_bytes()
    assert json.loads((generator / "encoder.json").read_text()) == {"model": f"{NAME}-encoder", "version": 1}
    assert {p.name for p in generator.iterdir()} >= {"model.py", "decoder.onnx", "tokenizer", CARD,
                                                     "generation_config.json", "config.json"}

    card = read_card(generator)
    assert (card.family, card.task, card.service, card.demonstration) == \
        ("seq2seq", "text-generation", "article-descriptions", True)
    info = card.seq2seq
    assert info is not None and info.encoder == f"{NAME}-encoder" and info.decoder == NAME
    assert info.languages["en"] == "en_XX" and info.source_layout == "suffix" and info.target_language == "decoder_start"
    assert info.generation["max_length"] == 20 and info.generation["length_penalty"] == 2.0
    assert info.quantize is None and info.int8 is None
    assert read_card(encoder).service is None and read_card(encoder).seq2seq == info


def test_int8_reports_its_token_agreement(lwt, tiny, tmp_path):
    done = export(lwt, tiny, tmp_path / "repo", "--name", f"{NAME}-int8", "--quantize", "int8",
                  "--parity-inputs", "20")
    assert done.returncode == 0, done.stderr[-2000:]
    info = read_card(tmp_path / "repo" / f"{NAME}-int8" / "1").seq2seq
    assert info is not None and info.quantize == "int8" and info.int8 is not None
    assert set(info.int8.agreement) == {"greedy", "beam2", "beam4"}
    assert all(0.0 <= a <= 1.0 for a in info.int8.agreement.values())
    assert all(e.endswith("/20") for e in info.int8.exact.values())
    assert info.int8.int8_bytes < info.int8.fp32_bytes and info.int8_token_agreement is not None


def test_a_failed_parity_check_writes_nothing(lwt, tiny, tmp_path):
    repo = tmp_path / "repo"
    done = export(lwt, tiny, repo, "--name", NAME, "--tolerance", "1e-9", "--parity-inputs", "2")
    assert done.returncode == 2
    assert "parity check failed" in done.stderr and "nothing was written" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not repo.exists() or not any(repo.iterdir())


def test_a_model_that_is_not_mbart_is_refused(lwt, tmp_path):
    bert = build_bert_classifier(tmp_path / "bert", "tiny")
    done = export(lwt, bert, tmp_path / "repo", "--name", NAME)
    assert done.returncode == 2 and "not supported" in done.stderr
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


def test_version_force_gpu_and_max_batch_size_reach_both_entries(lwt, tiny, tmp_path):
    repo = tmp_path / "repo"
    flags = ["--name", NAME, "--version", "3", "--max-batch-size", "8", "--gpu", "--parity-inputs", "1"]
    done = export(lwt, tiny, repo, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["version"] == 3
    encoder, generator = read_config(repo / f"{NAME}-encoder" / "config.pbtxt"), read_config(repo / NAME / "config.pbtxt")
    assert encoder.max_batch_size == 8 and generator.parameters["max_rows"].string_value == "8"
    assert [type(g).Kind.Name(g.kind) for g in (*encoder.instance_group, *generator.instance_group)] == \
        ["KIND_GPU", "KIND_GPU"]
    assert (repo / NAME / "3").is_dir() and (repo / f"{NAME}-encoder" / "3").is_dir()
    again = export(lwt, tiny, repo, *flags)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert export(lwt, tiny, repo, *flags, "--force").returncode == 0
    assert verify_version(repo / NAME / "3") == [] and verify_version(repo / f"{NAME}-encoder" / "3") == []
