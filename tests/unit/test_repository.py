"""The repository writer: config from protobuf, SHA512SUMS, atomic versions."""

from __future__ import annotations

import subprocess

import pytest

from exporters.contract.errors import ExportError
from exporters.contract.layout import parse_sha512sums, staged_version, verify_version
from exporters.triton_config import EntryConfig, Tensor, read_config, render_config


def _entry(**kw) -> EntryConfig:
    return EntryConfig(name="m", backend="onnxruntime", inputs=[Tensor("input", "TYPE_FP32", (9,))],
                       outputs=[Tensor("probabilities", "TYPE_FP32", (2,), "labels.txt")], **kw)


def test_gpu_config_has_kind_gpu_and_the_cuda_accelerator(tmp_path):
    text = render_config(_entry(gpu=True, instance_count=2))
    (tmp_path / "config.pbtxt").write_text(text)
    config = read_config(tmp_path / "config.pbtxt")
    assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    assert config.instance_group[0].count == 2
    assert config.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "cuda"
    assert "KIND_CPU" in render_config(_entry()) and "gpu_execution_accelerator" not in render_config(_entry())


def test_preferred_batch_sizes_never_exceed_max_batch_size():
    config = _entry(max_batch_size=16, preferred_batch_sizes=(8, 16, 32)).to_message()
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]


def test_staged_version_publishes_complete_versions_with_sha512sums(tmp_path):
    repo = tmp_path / "repo"
    with staged_version(repo, "m", None) as (folder, version):
        (folder / "model.onnx").write_bytes(b"weights")
        (folder / "tokenizer").mkdir()
        (folder / "tokenizer" / "vocab.txt").write_text("a\nb\n")
        assert not (repo / "m").exists()  # nothing visible while staging
    assert version == 1
    sums = parse_sha512sums((repo / "m" / "1" / "SHA512SUMS").read_text())
    assert set(sums) == {"model.onnx", "tokenizer/vocab.txt"}
    assert verify_version(repo / "m" / "1") == []
    ok = subprocess.run(["sha512sum", "-c", "SHA512SUMS"], cwd=repo / "m" / "1", capture_output=True)
    assert ok.returncode == 0


def test_a_failed_export_leaves_nothing(tmp_path):
    repo = tmp_path / "repo"
    with pytest.raises(RuntimeError):
        with staged_version(repo, "m", 3) as (folder, _):
            (folder / "model.onnx").write_bytes(b"half")
            raise RuntimeError("converter crashed")
    assert not repo.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_version_needs_force(tmp_path):
    repo = tmp_path / "repo"
    with staged_version(repo, "m", 1) as (folder, _):
        (folder / "a").write_text("1")
    with pytest.raises(ExportError, match="already exists"):
        with staged_version(repo, "m", 1):
            pass
    with staged_version(repo, "m", 1, force=True) as (folder, _):
        (folder / "b").write_text("2")
    assert sorted(p.name for p in (repo / "m" / "1").iterdir()) == ["SHA512SUMS", "b"]


def test_verify_version_names_every_problem(tmp_path):
    repo = tmp_path / "repo"
    with staged_version(repo, "m", 1) as (folder, _):
        (folder / "a").write_text("1")
        (folder / "b").write_text("2")
    version = repo / "m" / "1"
    (version / "a").write_text("tampered")
    (version / "b").unlink()
    (version / "c").write_text("extra")
    problems = "\n".join(verify_version(version))
    assert "a: sha512 mismatch" in problems and "b: missing" in problems and "c: not listed" in problems
    (version / "SHA512SUMS").unlink()
    assert "no SHA512SUMS" in verify_version(version)[0]
