"""`lwt export tree`: every family exported, served by the real Triton, equal to the original."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pytest
import tritonclient.http as httpclient
import yaml

from exporters.contract.errors import ExportError
from exporters.contract.card import read_card
from exporters.contract.layout import sha512_file, verify_version
from exporters.triton_config import read_config
from exporters.shipped import export_shipped
from exporters.shipped.enwiki_reverted import TESTING
from exporters.tree import export as tree_export
from exporters.tree.convert import to_onnx
from exporters.tree.export import TreeExportOptions, export_tree
from exporters.tree.loading import load_model
from tests.integration import models

FAMILIES = [
    "sk-gbm", "sk-gbm-6class", "sk-rf", "sk-extratrees", "sk-logreg", "sk-svc", "sk-linearsvc",
    "sk-histgbm", "xgb-sklearn", "xgb-native-6class", "lgbm-sklearn", "lgbm-native",
    "sk-multilabel", "rs-binary", "rs-6class", "rs-multilabel",
]


def _infer(url: str, model: str, X: np.ndarray) -> np.ndarray:
    client = httpclient.InferenceServerClient(url)
    tensor = httpclient.InferInput("input", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    return client.infer(model, [tensor]).as_numpy("probabilities")


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_served_by_triton_equals_the_original(triton, tree_models, rows, name):
    built = tree_models[name]
    expected = built.predict_proba(rows.astype(np.float64))
    got = np.vstack([_infer(triton.http_url, name, rows[i : i + 50]) for i in range(0, len(rows), 50)])
    assert got.shape == (len(rows), built.n_outputs)
    assert np.max(np.abs(got - expected)) <= 1e-5


@pytest.mark.parametrize("name", FAMILIES)
def test_entry_is_a_standard_triton_repository_entry(repository, tree_models, name):
    entry = repository / name
    config = read_config(entry / "config.pbtxt")
    assert config.backend == "onnxruntime" and config.max_batch_size == 64
    assert [(i.name, i.dims) for i in config.input] == [("input", [models.N_FEATURES])]
    assert config.output[0].name == "probabilities" and config.output[0].label_filename == "labels.txt"
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU
    labels = (entry / "labels.txt").read_text().splitlines()
    assert len(labels) == tree_models[name].n_outputs == config.output[0].dims[0]
    card = read_card(entry / "1")
    assert card.source.sha512 == {tree_models[name].path.name: sha512_file(tree_models[name].path)}
    assert card.labels == labels and card.inputs[0].shape == [-1, models.N_FEATURES]
    assert card.parity.passed and card.parity.max_abs_diff <= 1e-5
    assert set(card.libraries) >= {"onnx", "onnxruntime", "scikit-learn"}
    assert card.family == "tree" and card.service == ("revscoring" if name.startswith("rs-") else None)
    assert verify_version(entry / "1") == []
    check = subprocess.run(["sha512sum", "-c", "SHA512SUMS"], cwd=entry / "1", capture_output=True, text=True)
    assert check.returncode == 0 and "model.onnx: OK" in check.stdout


def test_revscoring_model_files_round_trip(repository, tree_models):
    """The card carries revscoring's own metadata, read back from the dumped file."""
    from revscoring import Model

    for name in ("rs-binary", "rs-6class", "rs-multilabel"):
        with open(tree_models[name].path, "rb") as handle:
            original = Model.load(handle)
        card = yaml.safe_load((repository / name / "1" / "model.yaml").read_text())
        assert card["features"] == [str(f) for f in original.features]
        assert card["model_version"] == original.version
        assert card["multilabel"] == original.multilabel
        assert card["params"]["n_estimators"] == original.params["n_estimators"]
    card = yaml.safe_load((repository / "rs-multilabel" / "1" / "model.yaml").read_text())
    assert card["labels"] == ["Culture.Media", "Geography.Europe", "STEM.Physics"]
    assert yaml.safe_load((repository / "rs-binary" / "1" / "model.yaml").read_text())["labels"] == ["false", "true"]


def test_shipped_enwiki_reverted_parity_on_the_real_testing_rows(tmp_path, triton):
    summary = next(s for s in export_shipped(tmp_path / "repo", progress=False) if s["name"] == "enwiki-reverted")
    assert summary["parity"]["rows"] == 4862 and summary["parity"]["labels_identical"]
    assert summary["parity"]["max_abs_diff"] <= 1e-5
    card = yaml.safe_load((tmp_path / "repo" / "enwiki-reverted" / "1" / "model.yaml").read_text())
    assert card["features"][7] == "feature.revision.user.in_group({'bot', 'sysop'})"
    assert card["statistics"]["roc_auc"]["macro"] > 0.8  # revscoring's own test statistics


def test_shipped_repository_matches_a_fresh_build(tmp_path):
    """model_repository/ in git is exactly what `lwt export shipped` builds."""
    shipped = Path(__file__).resolve().parents[2] / "model_repository" / "enwiki-reverted"
    assert verify_version(shipped / "1") == []
    export_shipped(tmp_path / "repo", progress=False)
    rebuilt = tmp_path / "repo" / "enwiki-reverted"
    assert (shipped / "config.pbtxt").read_text() == (rebuilt / "config.pbtxt").read_text()
    X = np.asarray(np.random.default_rng(3).normal(size=(300, 9)) * [3, 50, 50, 1, 1, 5, 1, 1, 1e7], np.float32)
    from exporters.tree.convert import run_onnx

    a = run_onnx((shipped / "1" / "model.onnx").read_bytes(), X)
    b = run_onnx((rebuilt / "1" / "model.onnx").read_bytes(), X)
    assert np.array_equal(a, b)


# --- failures: one line, exit code 2, nothing written ---------------------------------

def _export(lwt: list[str], model_file: Path, repo: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*lwt, "export", "tree", str(model_file), "--name", "m", "--repository", str(repo),
                           "--no-progress", *extra], capture_output=True, text=True, timeout=120)


def _assert_refused(result: subprocess.CompletedProcess, needle: str, repo: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("lwt: error:")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / "m").exists() or sorted(p.name for p in (repo / "m").iterdir()) == ["1", "config.pbtxt", "labels.txt"]
    assert not list(repo.parent.glob(".lwt-staging-*"))


def test_refuses_an_unsupported_estimator(lwt, tmp_path):
    from sklearn.cluster import KMeans

    path = tmp_path / "kmeans.joblib"
    joblib.dump(KMeans(n_clusters=2, n_init=1).fit(models.rows(50)), path)
    _assert_refused(_export(lwt, path, tmp_path / "repo"), "unsupported model sklearn.cluster", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_refuses_a_corrupt_file(lwt, tmp_path):
    path = tmp_path / "corrupt.pkl"
    path.write_bytes(b"\x80\x04garbage that is not a pickle")
    _assert_refused(_export(lwt, path, tmp_path / "repo"), "not a readable pickle/joblib", tmp_path / "repo")


def test_refuses_a_truncated_file(lwt, tmp_path, tree_models):
    data = tree_models["sk-gbm"].path.read_bytes()
    path = tmp_path / "truncated.joblib"
    path.write_bytes(data[: len(data) // 2])
    _assert_refused(_export(lwt, path, tmp_path / "repo"), "not a readable pickle/joblib", tmp_path / "repo")


def test_refuses_verify_data_with_another_feature_count(lwt, tmp_path, tree_models):
    _assert_refused(_export(lwt, tree_models["sk-gbm"].path, tmp_path / "repo", "--verify-data", str(TESTING)),
                    "columns, but the model has 10 features", tmp_path / "repo")


def test_refuses_an_existing_version_without_force(lwt, tmp_path, tree_models):
    repo = tmp_path / "repo"
    first = _export(lwt, tree_models["sk-rf"].path, repo, "--version", "1")
    assert first.returncode == 0, first.stderr
    before = sha512_file(repo / "m" / "1" / "model.onnx")
    _assert_refused(_export(lwt, tree_models["sk-gbm"].path, repo, "--version", "1"), "already exists", repo)
    assert sha512_file(repo / "m" / "1" / "model.onnx") == before
    forced = _export(lwt, tree_models["sk-gbm"].path, repo, "--version", "1", "--force", "--json")
    assert forced.returncode == 0
    assert json.loads(forced.stdout)["version"] == 1
    assert sha512_file(repo / "m" / "1" / "model.onnx") != before
    assert verify_version(repo / "m" / "1") == []


def test_json_summary_and_next_version(lwt, tmp_path, tree_models):
    repo = tmp_path / "repo"
    for expected in (1, 2):
        result = _export(lwt, tree_models["lgbm-native"].path, repo, "--json", "--max-batch-size", "8",
                         "--instance-count", "2")
        summary = json.loads(result.stdout)
        assert summary["version"] == expected and summary["parity"]["passed"]
    config = read_config(repo / "m" / "config.pbtxt")
    assert config.max_batch_size == 8 and config.instance_group[0].count == 2
    assert list(config.dynamic_batching.preferred_batch_size) == [8]


def test_the_parity_check_fails_on_a_wrong_model(tmp_path, tree_models, monkeypatch):
    """Swap the converted graph for another model's: the export must fail, nothing written."""
    other = load_model(tree_models["sk-rf"].path)
    monkeypatch.setattr(tree_export, "to_onnx", lambda model: to_onnx(other))
    with pytest.raises(ExportError, match="parity check failed"):
        export_tree(tree_models["sk-gbm"].path, TreeExportOptions(name="m", repository=tmp_path / "repo", progress=False))
    assert not (tmp_path / "repo").exists()
    assert not list(tmp_path.glob(".lwt-staging-*"))
