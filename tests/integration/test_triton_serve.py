"""The real Triton from `lwt serve`: v2 HTTP and gRPC, dynamic batching, bad requests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from lwt.stack.process import free_port
from tests.integration import client, triton_stats

MODEL = "sk-gbm"


def _http_infer(url: str, model: str, X: np.ndarray) -> np.ndarray:
    client = httpclient.InferenceServerClient(url)
    tensor = httpclient.InferInput("input", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    return client.infer(model, [tensor]).as_numpy("probabilities")


def test_http_and_grpc_match_the_original(triton, tree_models, rows):
    expected = tree_models[MODEL].predict_proba(rows.astype(np.float64))
    got_http = _http_infer(triton.http_url, MODEL, rows[:64])
    grpc = grpcclient.InferenceServerClient(triton.grpc_url)
    tensor = grpcclient.InferInput("input", [64, rows.shape[1]], "FP32")
    tensor.set_data_from_numpy(rows[:64])
    got_grpc = grpc.infer(MODEL, [tensor]).as_numpy("probabilities")
    assert np.max(np.abs(got_http - expected[:64])) <= 1e-5
    assert np.max(np.abs(got_grpc - expected[:64])) <= 1e-5


def test_plain_json_over_curl_style_http(triton, tree_models, rows):
    """The v2 JSON a `curl` user sends, without tritonclient."""
    body = {"inputs": [{"name": "input", "shape": [1, rows.shape[1]], "datatype": "FP32",
                        "data": rows[0].tolist()}]}
    answer = _post(f"http://{triton.http_url}/v2/models/{MODEL}/infer", body)
    assert answer[0] == 200
    output = answer[1]["outputs"][0]
    assert output["name"] == "probabilities" and output["shape"] == [1, 2]
    expected = tree_models[MODEL].predict_proba(rows[:1].astype(np.float64))[0]
    assert np.max(np.abs(np.array(output["data"]) - expected)) <= 1e-5


def test_dynamic_batching_batches_concurrent_requests(triton, rows):
    before = triton_stats.read(triton.http_url, MODEL)

    def client(i: int) -> None:
        c = httpclient.InferenceServerClient(triton.http_url)
        for j in range(30):
            tensor = httpclient.InferInput("input", [1, rows.shape[1]], "FP32")
            tensor.set_data_from_numpy(rows[(i * 30 + j) % len(rows)][None, :])
            c.infer(MODEL, [tensor])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client, range(16)))
    after = triton_stats.counted(triton.http_url, MODEL, before, rows=16 * 30)
    inferences = after.inferences - before.inferences
    executions = after.executions - before.executions
    assert inferences == 16 * 30
    assert executions < inferences, f"{executions} executions for {inferences} inferences"


def _post(url: str, body: dict) -> tuple[int, dict]:
    return client.post(url, body)


@pytest.mark.parametrize(
    ("model", "shape", "datatype", "needle"),
    [
        (MODEL, [1, 7], "FP32", "shape"),  # wrong shape
        (MODEL, [1, 10], "INT32", "data-type"),  # wrong dtype
        ("no-such-model", [1, 10], "FP32", "unknown model"),
        (MODEL, [65, 10], "FP32", "batch"),  # above max_batch_size 64
    ],
)
def test_malformed_requests_get_4xx_and_server_stays_healthy(triton, model, shape, datatype, needle):
    count = int(np.prod(shape))
    data = [0] * count if datatype.startswith("INT") else [0.0] * count
    body = {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}
    status, answer = _post(f"http://{triton.http_url}/v2/models/{model}/infer", body)
    assert 400 <= status < 500, (status, answer)
    assert needle in answer["error"].lower()
    with urllib.request.urlopen(f"http://{triton.http_url}/v2/health/ready") as ready:
        assert ready.status == 200
    with pytest.raises(InferenceServerException):
        grpc = grpcclient.InferenceServerClient(triton.grpc_url)
        tensor = grpcclient.InferInput("input", shape, datatype)
        tensor.set_data_from_numpy(np.zeros(shape, dtype=np.float32 if datatype == "FP32" else np.int32))
        grpc.infer(model, [tensor])


def _serve(lwt: list[str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*lwt, "serve", *args], capture_output=True, text=True, timeout=timeout)


def test_serve_refuses_a_taken_port(lwt, triton, repository):
    taken = triton.ports.http
    result = _serve(lwt, "--repository", str(repository), "--http-port", str(taken),
                    "--grpc-port", str(free_port()), "--metrics-port", str(free_port()))
    assert result.returncode != 0
    assert f"http port {taken} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_serve_refuses_a_missing_or_empty_repository(lwt, tmp_path, kind):
    target = tmp_path / "repo"
    if kind == "empty":
        target.mkdir()
    result = _serve(lwt, "--repository", str(target), "--http-port", str(free_port()),
                    "--grpc-port", str(free_port()), "--metrics-port", str(free_port()))
    assert result.returncode != 0
    assert ("does not exist" if kind == "missing" else "holds no model") in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_a_model_that_fails_to_load(lwt, tmp_path, repository):
    broken = tmp_path / "repo"
    (broken / "broken" / "1").mkdir(parents=True)
    (broken / "broken" / "config.pbtxt").write_text((repository / MODEL / "config.pbtxt").read_text()
                                                    .replace(f'name: "{MODEL}"', 'name: "broken"'))
    (broken / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    result = _serve(lwt, "--repository", str(broken), "--http-port", str(free_port()),
                    "--grpc-port", str(free_port()), "--metrics-port", str(free_port()), timeout=180)
    assert result.returncode != 0
    assert "failed to load" in result.stderr and "broken" in result.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_in_the_foreground_and_stops_everything_on_a_signal(lwt, repository, tmp_path, signum):
    ports = [str(free_port()) for _ in range(4)]
    process = subprocess.Popen(
        [*lwt, "serve", "--repository", str(repository), "--http-port", ports[0], "--grpc-port", ports[1],
         "--metrics-port", ports[2], "--supervisor-port", ports[3], "--workdir", str(tmp_path / "work")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert "Triton ready" in line and str(tmp_path / "work" / "tritonserver.log") in line
        triton_pids = _children(process.pid)
        stubs = [c for p in triton_pids for c in _children(p)]
        assert triton_pids and stubs, "tritonserver and its backend stubs should be running"
    finally:
        process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    time.sleep(0.5)
    for pid in triton_pids + stubs:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
