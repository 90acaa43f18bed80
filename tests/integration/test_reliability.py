"""Reliability and security at the boundaries: requests, tensors, Triton's admin APIs, a
crashed Triton, a slow or redirecting wiki. Everything here runs the real servers."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from tests.integration import client

MODEL = "enwiki-reverted"


@pytest.fixture(scope="module")
def stack(shipped_repo, wiki, tmp_path_factory):
    work = tmp_path_factory.mktemp("reliability")
    with TritonServer(shipped_repo, Ports(free_port(), free_port(), free_port()), workdir=work / "t") as triton, \
            ServicesProcess(shipped_repo, free_port(), triton.http_url, wiki.api_url, log_path=work / "s.log",
                            options={"cache": "none"}) as services:
        yield triton, services


def post(url: str, body: object | None = None, raw: bytes | None = None, timeout: float = 60) -> tuple[int, dict]:
    return client.post(url, body, raw, timeout)


def v2(services: ServicesProcess, name: str, shape: list, datatype: str, data: list) -> tuple[int, dict]:
    return post(f"{services.url}/v2/models/{MODEL}/infer",
                {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]})


# --- v2: every row answered in input order; anything else is a 400 ---------------------------

def test_v2_answers_every_row_in_input_order(stack, revs):
    _, services = stack
    good, hidden = revs["good_edit"], revs["hidden_text"]
    status, answer = v2(services, "rev_id", [4], "INT64", [good, hidden, good, 987654])
    assert status == 200
    probabilities = {o["name"]: o for o in answer["outputs"]}["probabilities"]
    errors = {o["name"]: o for o in answer["outputs"]}["error"]["data"]
    assert probabilities["shape"] == [4, 2] and errors[0] == "" and errors[2] == ""
    rows = [probabilities["data"][2 * i: 2 * i + 2] for i in range(4)]
    assert rows[0] == rows[2] and rows[1] == [None, None] and rows[3] == [None, None]
    assert errors[1].startswith("TextDeleted") and errors[3].startswith("RevisionNotFound")
    single = post(f"{services.url}/v1/models/{MODEL}:predict", {"rev_id": good})[1]
    p_true = single["enwiki"]["scores"][str(good)]["reverted"]["score"]["probability"]["true"]
    assert abs(rows[0][1] - p_true) < 1e-6


@pytest.mark.parametrize(("shape", "datatype", "data", "needle"), [
    ([1], "FP32", [3.7], "must be INT64"),
    ([1], "BOOL", [True], "must be INT64"),
    ([1], "BYTES", ["4"], "must be INT64"),
    ([1], "FP32", ["NaN"], "must be INT64"),
    ([1], "INT64", ["abc"], "integers"),
    ([5], "INT64", [3], "has 1 values, its shape says 5"),
    ([0], "INT64", [], "must hold 1 to 50"),
    ([2147483648, 9], "INT64", [3], "shape [n] or [n, 1]"),
    ([1, 2**62], "INT64", [3], "shape [n] or [n, 1]"),
    ([1], "INT64", [2**63 - 1], "not a MediaWiki revision id"),
    ([1], "INT64", [-3], "not a MediaWiki revision id"),
    ([51], "INT64", list(range(1, 52)), "must hold 1 to 50"),
])
def test_bad_v2_tensors_are_400(stack, shape, datatype, data, needle):
    _, services = stack
    status, answer = v2(services, "rev_id", shape, datatype, data)
    assert status == 400, answer
    assert needle in json.dumps(answer) and "Traceback" not in json.dumps(answer)


@pytest.mark.parametrize("raw", [
    b'{"rev_id": NaN}', b'{"rev_id": Infinity}', b'{"rev_ids": [3, -Infinity]}',
    b'{"inputs": [{"name": "rev_id", "shape": [1], "datatype": "FP32", "data": [NaN]}]}',
    b'{"inputs": [{"name": "rev_id", "shape": [1], "datatype": "INT64", "data": [Infinity]}]}',
])
def test_nan_and_infinity_are_400(stack, raw):
    _, services = stack
    route = "/v2/models/enwiki-reverted/infer" if b"inputs" in raw else f"/v1/models/{MODEL}:predict"
    status, answer = post(f"{services.url}{route}", raw=raw)
    assert status == 400, answer


def test_rev_ids_beyond_mediawikis_range_are_400_not_502(stack):
    _, services = stack
    for body in ({"rev_id": 2**63}, {"rev_ids": [3, 2**40]}):
        status, answer = post(f"{services.url}/v1/models/{MODEL}:predict", body)
        assert status == 400 and answer["error"]["type"] == "BadRequest"


def test_an_error_answer_keeps_the_connection_usable(stack, revs):
    _, services = stack
    host, port = services.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    bodies = [b"{not json", json.dumps({"rev_id": "x"}).encode(), json.dumps({"rev_id": 987654}).encode(),
              b"[" * 100_000, json.dumps({"rev_id": revs["hidden_text"]}).encode(),
              json.dumps({"rev_id": revs["good_edit"]}).encode()]
    statuses = []
    for body in bodies:
        connection.request("POST", f"/v1/models/{MODEL}:predict", body=body,
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        json.loads(answer.read())  # every answer is JSON
        statuses.append(answer.status)
    connection.close()
    assert statuses == [400, 400, 404, 400, 410, 200]


def test_a_body_over_the_limit_is_400(stack):
    _, services = stack
    # Declared, not sent: a client still sending 2 MB when the 400 comes sees a reset instead
    # (under load, one run in three), which would test the kernel's timing, not the service.
    status, answer = client.declare_only(services.port, f"/v1/models/{MODEL}:predict", 2_000_000)
    assert status == 400 and "over" in answer["error"]["message"]


# --- fuzzing: no 5xx from our code over thousands of generated bodies -----------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                       max_size=4),
                    max_leaves=12)
REV = st.one_of(st.integers(min_value=-5, max_value=2**64), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
                st.booleans(), st.none(), st.lists(st.integers(min_value=0, max_value=40), max_size=3))
V1 = st.one_of(
    JSON,
    st.fixed_dictionaries({"rev_id": REV}, optional={"extended_output": JSON}),
    st.fixed_dictionaries({"rev_ids": st.one_of(st.lists(REV, max_size=60), JSON)}),
    st.fixed_dictionaries({"event": JSON}),
)
V2 = st.fixed_dictionaries({"inputs": st.one_of(JSON, st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(["rev_id", "input", ""]) | st.text(max_size=6),
    "shape": st.lists(st.integers(min_value=-3, max_value=2**63 - 1), max_size=3) | JSON,
    "datatype": st.sampled_from(["INT64", "INT32", "FP32", "BOOL", "BYTES", "FP64", "x"]),
    "data": st.lists(REV, max_size=6) | JSON,
}), max_size=3))})


class _Counter:
    sent = 0


@pytest.mark.parametrize("route", ["v1", "v2"])
def test_fuzzed_bodies_never_get_a_5xx(stack, route):
    _, services = stack
    url = f"{services.url}/v1/models/{MODEL}:predict" if route == "v1" else f"{services.url}/v2/models/{MODEL}/infer"
    counter = _Counter()

    @settings(max_examples=1100, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(V1 if route == "v1" else V2)
    def check(body: object) -> None:
        counter.sent += 1
        status, answer = post(url, raw=json.dumps(body, allow_nan=False).encode())
        assert status < 500, (body, status, answer)
        assert "Traceback" not in json.dumps(answer)

    check()
    assert counter.sent >= 1000


# --- one deadline for all MediaWiki calls; no redirect followed --------------------------------

class _SlowProxy:
    """Forwards to the real wiki, answering each call `delay` seconds late."""

    def __init__(self, target: str, delay: float) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                time.sleep(delay)
                with urllib.request.urlopen(target.rsplit("/", 1)[0] + self.path, timeout=30) as answer:
                    body = answer.read()
                outer.calls += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.calls = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api.php"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_one_deadline_covers_every_mediawiki_call_of_a_request(stack, shipped_repo, wiki, revs, tmp_path):
    triton, _ = stack
    proxy = _SlowProxy(wiki.api_url, delay=1.8)  # each call within the limit, two calls beyond it
    try:
        with ServicesProcess(shipped_repo, free_port(), triton.http_url, proxy.url, log_path=tmp_path / "s.log",
                             options={"mediawiki-timeout": 3, "cache": "none"}) as services:
            started = time.monotonic()
            status, answer = post(f"{services.url}/v1/models/{MODEL}:predict", {"rev_id": revs["good_edit"]})
            elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert status == 504 and answer["error"]["type"] == "MediaWikiTimeout"
    assert elapsed < 3 + 1.5, f"answered after {elapsed:.1f} s, the deadline is 3 s"


class _Redirector:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(302)
                self.send_header("Location", "http://203.0.113.9/api.php")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api.php"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_redirect_to_another_host_is_not_followed(stack, shipped_repo, tmp_path):
    triton, _ = stack
    redirector = _Redirector()
    try:
        with ServicesProcess(shipped_repo, free_port(), triton.http_url, redirector.url, log_path=tmp_path / "s.log",
                             options={"cache": "none"}) as services:
            status, answer = post(f"{services.url}/v1/models/{MODEL}:predict", {"rev_id": 3})
    finally:
        redirector.server.shutdown()
    assert status == 502 and "redirect" in answer["error"]["message"] and "not followed" in answer["error"]["message"]


# --- Triton's administrative APIs need the operator's key ---------------------------------------

def _triton_post(triton: TritonServer, path: str, body: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(f"http://{triton.http_url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_admin_apis_need_the_key_and_inference_does_not(stack):
    triton, _ = stack
    stub_region = next(iter(Path("/dev/shm").glob(f"{triton.shm_prefix}*")), None)
    assert stub_region is not None, "the stubs' regions carry this run's prefix"
    register = {"key": stub_region.name, "offset": 0, "byte_size": 64}
    assert _triton_post(triton, "/v2/systemsharedmemory/region/hijack/register", register) == 403
    assert _triton_post(triton, f"/v2/repository/models/{MODEL}/unload", {}) == 403
    assert _triton_post(triton, "/v2/logging", {"log_verbose_level": 1}) == 403
    assert _triton_post(triton, "/v2/trace/setting", {"trace_level": ["TIMESTAMPS"]}) == 403
    infer = {"inputs": [{"name": "input", "shape": [1, 9], "datatype": "FP32", "data": [3, 120, 0, 0, 0, 0.5, 1, 0, 0]}]}
    assert _triton_post(triton, f"/v2/models/{MODEL}/infer", infer) == 200
    key = triton.admin_key_file.read_text().strip()
    assert oct(triton.admin_key_file.stat().st_mode & 0o777) == "0o600"
    assert _triton_post(triton, "/v2/logging", {"log_verbose_level": 0}, {"lwt-admin-key": key}) == 200


def test_the_services_expose_no_repository_api(stack):
    _, services = stack
    status, answer = post(f"{services.url}/v2/repository/models/{MODEL}/unload", {})
    assert status == 403 and answer["error"]["type"] == "Forbidden"
    assert post(f"{services.url}/v1/models/{MODEL}:predict", {"rev_id": 3})[0] != 404


def test_readiness_turns_false_when_a_model_is_gone(shipped_repo, wiki, tmp_path):
    with TritonServer(shipped_repo, Ports(free_port(), free_port(), free_port()), workdir=tmp_path / "t",
                      model_control_mode="explicit", extra_args=(f"--load-model={MODEL}",)) as triton, \
            ServicesProcess(shipped_repo, free_port(), triton.http_url, wiki.api_url, models=[MODEL],
                            log_path=tmp_path / "s.log", options={"cache": "none"}) as services:
        assert urllib.request.urlopen(f"{services.url}/v2/health/ready").status == 200
        assert _triton_post(triton, f"/v2/repository/models/{MODEL}/unload", {}, triton.admin_headers) == 200
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(f"{services.url}/v2/health/ready")
        assert gone.value.code == 503
        assert _triton_post(triton, f"/v2/repository/models/{MODEL}/load", {}, triton.admin_headers) == 200
        assert urllib.request.urlopen(f"{services.url}/v2/health/ready").status == 200
    assert "Traceback" not in (tmp_path / "s.log").read_text()  # a 503 on readiness is not an error


# --- a request that crashes Triton: lwt serve restarts it, the services recover ---------------

def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def _crash(http_port: int) -> None:
    body = json.dumps({"inputs": [{"name": "input", "shape": [2147483648, 9], "datatype": "FP32",
                                   "data": [3, 120, 0, 0, 0, 0.5, 1, 0, 0]}]}).encode()
    with socket.create_connection(("127.0.0.1", http_port), timeout=30) as sock:
        sock.sendall(f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            sock.recv(1024)
        except OSError:
            pass


def test_a_crashed_triton_is_restarted_and_the_services_recover(lwt, shipped_repo, wiki, revs, tmp_path):
    ports = [free_port() for _ in range(5)]
    serve = subprocess.Popen(
        [*lwt, "--log-level", "WARNING", "serve", "--repository", str(shipped_repo), "--http-port", str(ports[0]),
         "--grpc-port", str(ports[1]), "--metrics-port", str(ports[2]), "--supervisor-port", str(ports[3]),
         "--services", "--services-port", str(ports[4]), "--mediawiki-url", wiki.api_url, "--cache", "none",
         "--workdir", str(tmp_path / "w")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Triton ready" in serve.stdout.readline() and "Services ready" in serve.stdout.readline()
        triton_cmd = " ".join(next(c for c in psutil.Process(serve.pid).children(recursive=True)
                                   if c.name() == "tritonserver").cmdline())
        prefix = re.search(r"shm-region-prefix-name=(\S+)", triton_cmd).group(1)
        url = f"http://127.0.0.1:{ports[4]}/v1/models/{MODEL}:predict"
        assert post(url, {"rev_id": revs["good_edit"]})[0] == 200
        assert "lwt_triton_restarts_total 0.0" in _metrics(ports[3])
        _crash(ports[0])
        statuses, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            status, _ = post(url, {"rev_id": revs["good_edit"]}, timeout=30)
            statuses.append(status)
            if status == 200 and 503 in statuses:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
        assert 503 in statuses, "while Triton was down the services answered 503"
        assert "lwt_triton_restarts_total 1.0" in _metrics(ports[3])
        assert "lwt_triton_up 1.0" in _metrics(ports[3])
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=90) == 0
    assert list(Path("/dev/shm").glob(f"{prefix}*")) == []


def test_no_shared_memory_region_outlives_a_crashed_triton(shipped_repo, tmp_path):
    triton = TritonServer(shipped_repo, Ports(free_port(), free_port(), free_port()), workdir=tmp_path / "t")
    with triton:
        regions = list(Path("/dev/shm").glob(f"{triton.shm_prefix}*"))
        assert regions
        _crash(triton.ports.http)
        deadline = time.monotonic() + 30
        while triton.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not triton.alive(), "the request should have crashed Triton 2.51"
    assert list(Path("/dev/shm").glob(f"{triton.shm_prefix}*")) == []
