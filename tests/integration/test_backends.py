"""Our Python-based `pytorch` and `onnxruntime` backends: standard entries, batching,
per-request errors, and padding that does not change anyone's answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from exporters.contract.layout import publish_model_files, staged_version
from exporters.triton_config import EntryConfig, Tensor, render_config
from lwt.stack.process import free_port
from lwt.stack.triton import Ports, TritonServer
from tests.integration import triton_stats

torch = pytest.importorskip("torch")


class Guarded(torch.nn.Module):
    """Doubles its input, and refuses (raises) rows holding a negative sentinel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < -1e6).any()):
            raise ValueError("poisoned input")
        return x * 2.0


class MaskedMean(torch.nn.Module):
    """Mean of ids over the positions the mask keeps: padding must not change it."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32)
        return (input_ids.to(torch.float32) * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True)


def _torchscript_entry(repo: Path, name: str, module: torch.nn.Module, example: tuple,
                       inputs: list[Tensor], outputs: list[Tensor]) -> None:
    traced = torch.jit.script(module) if isinstance(module, Guarded) else torch.jit.trace(module, example)
    with staged_version(repo, name, 1) as (folder, _):
        traced.save(str(folder / "model.pt"))
    entry = EntryConfig(name=name, backend="pytorch", inputs=inputs, outputs=outputs, max_batch_size=32,
                        max_queue_delay_microseconds=20000, parameters={"INTRA_OP_THREAD_COUNT": "1"})
    publish_model_files(repo, name, render_config(entry), None)


@pytest.fixture(scope="module")
def torch_triton(tmp_path_factory):
    repo = tmp_path_factory.mktemp("torch-repo") / "models"
    _torchscript_entry(repo, "guarded", Guarded(), (torch.zeros(1, 4),),
                       [Tensor("x", "TYPE_FP32", (4,))], [Tensor("y", "TYPE_FP32", (4,))])
    ids = torch.ones(2, 5, dtype=torch.int64)
    _torchscript_entry(repo, "masked-mean", MaskedMean(), (ids, ids),
                       [Tensor("input_ids", "TYPE_INT64", (-1,), allow_ragged_batch=True),
                        Tensor("attention_mask", "TYPE_INT64", (-1,), allow_ragged_batch=True)],
                       [Tensor("mean", "TYPE_FP32", (1,))])
    with TritonServer(repo, Ports(free_port(), free_port(), free_port()),
                      workdir=tmp_path_factory.mktemp("torch-triton")) as server:
        yield server


def _infer(url: str, model: str, arrays: dict[str, np.ndarray], output: str) -> np.ndarray:
    client = httpclient.InferenceServerClient(url)
    tensors = []
    for name, array in arrays.items():
        tensor = httpclient.InferInput(name, list(array.shape), "FP32" if array.dtype == np.float32 else "INT64")
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return client.infer(model, tensors).as_numpy(output)


def test_a_bad_request_fails_alone_inside_a_batch(torch_triton):
    rows = [np.full((1, 4), float(i), np.float32) for i in range(12)]
    rows[5] = np.full((1, 4), -1e9, np.float32)
    before = triton_stats.read(torch_triton.http_url, "guarded")

    def call(row: np.ndarray):
        try:
            return _infer(torch_triton.http_url, "guarded", {"x": row}, "y")
        except InferenceServerException as exc:
            return exc

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(call, rows))
    after = triton_stats.counted(torch_triton.http_url, "guarded", before, rows=11)  # all but the poisoned
    assert isinstance(answers[5], InferenceServerException) and "poisoned input" in str(answers[5])
    for i, answer in enumerate(answers):
        if i != 5:
            assert np.array_equal(answer, rows[i] * 2), i
    assert after.executions - before.executions < 12  # they really were batched together


def test_variable_lengths_in_one_batch_get_the_same_answer_as_alone(torch_triton):
    rng = np.random.default_rng(0)
    requests = []
    for length in (3, 9, 5, 17, 1, 12, 7, 4):
        ids = rng.integers(1, 1000, size=(1, length), dtype=np.int64)
        requests.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    alone = [_infer(torch_triton.http_url, "masked-mean", r, "mean") for r in requests]
    before = triton_stats.read(torch_triton.http_url, "masked-mean")
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(lambda r: _infer(torch_triton.http_url, "masked-mean", r, "mean"), requests))
    after = triton_stats.counted(torch_triton.http_url, "masked-mean", before, rows=len(requests))
    assert after.executions - before.executions < len(requests)
    for a, t, r in zip(alone, together, requests):
        assert np.allclose(a, t, atol=1e-6)
        assert np.isclose(a[0, 0], r["input_ids"].mean(), rtol=1e-6)
