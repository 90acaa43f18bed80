"""The article-descriptions service end to end: the fixture MediaWiki, the real Triton serving
the exported tiny mBART (encoder + generator entries), KServe. Concurrent requests answer as
alone, bad inputs are 4xx, and a client that leaves mid-generation frees its rows.

Two models: `article-descriptions` (the tiny model's own settings: descriptions of 3 to 20
tokens) and `slow-descriptions` (every hypothesis 300 tokens, 4 rows: generation lasts long
enough to overlap requests and to leave in the middle)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from exporters.seq2seq.sample_text import FIXTURE_LEADS
from exporters.seq2seq.synthetic import build_mbart
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer

FAST, SLOW = "article-descriptions", "slow-descriptions"
SLOW_LENGTH = 300


class DescriptionsServices(ServicesProcess):
    """The services, allowed SLOW_LENGTH new tokens (a service setting, LWT_ in the environment)."""

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "LWT_DESCRIPTIONS_MAX_NEW_TOKENS": str(SLOW_LENGTH)}


@pytest.fixture(scope="module")
def repo(lwt, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("descriptions")
    repository = work / "repo"
    fast = build_mbart(work / "fast", "tiny")
    slow = build_mbart(work / "slow", "tiny", generation={"min_length": SLOW_LENGTH, "max_length": SLOW_LENGTH})
    for model, name, flags in ((fast, FAST, ["--parity-inputs", "20"]),
                               (slow, SLOW, ["--parity-inputs", "1", "--max-batch-size", "4"])):
        done = subprocess.run([*lwt, "--log-level", "WARNING", "export", "seq2seq", str(model), "--name", name,
                               "--repository", str(repository), "--no-progress", "--demonstration", *flags],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return repository


@pytest.fixture(scope="module")
def services(repo, wiki, tmp_path_factory):
    triton = TritonServer(repo, Ports(free_port(), free_port(), free_port()),
                          workdir=tmp_path_factory.mktemp("descriptions-triton")).start()
    running = DescriptionsServices(repo, free_port(), triton.http_url, wiki.api_url,
                                   log_path=tmp_path_factory.mktemp("descriptions-svc") / "services.log",
                                   options={"cache": "none"}).start()
    yield running
    running.stop()
    triton.stop()


def call(url: str, body: object, model: str = FAST, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/v1/models/{model}:predict", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def metric(url: str, name: str, model: str, outcome: str | None = None) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    labels = f'model="{model}"' + (f',outcome="{outcome}"' if outcome else "")
    found = re.search(rf"^{name}{{{re.escape(labels)}}} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def wait_for(check, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def concurrently(*calls):
    """Run the calls in threads started together; their results in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, fn):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def test_descriptions_in_lift_wings_shape(services):
    status, answer = call(services.url, {"lang": "en", "title": "Danube", "num_beams": 2})
    assert status == 200, answer
    assert set(answer) == {"prediction", "blp", "lang", "title", "num_beams"}
    assert len(answer["prediction"]) == 2 and all(isinstance(p, str) for p in answer["prediction"])
    assert (answer["blp"], answer["lang"], answer["title"], answer["num_beams"]) == (False, "en", "Danube", 2)
    assert call(services.url, {"lang": "en", "title": "River Danube", "num_beams": 2})[1]["prediction"] == \
        answer["prediction"]  # a redirect describes its target
    status, living = call(services.url, {"lang": "en", "title": "Jonas Berger", "num_beams": 4})
    assert status == 200 and living["blp"] is True and len(living["prediction"]) == 4
    status, german = call(services.url, {"lang": "de", "title": "Donau", "num_beams": 1})
    assert status == 200 and len(german["prediction"]) == 1


def test_debug_shows_the_leads_of_every_linked_language_and_the_timings(services):
    status, answer = call(services.url, {"lang": "en", "title": "Danube", "num_beams": 2, "debug": 1})
    assert status == 200
    debug = answer["debug"]
    assert debug["inputs"] == {"en": FIXTURE_LEADS["Danube"][1], "de": FIXTURE_LEADS["Donau"][1],
                               "it": FIXTURE_LEADS["Danubio"][1]}
    assert {"fetch_ms", "tokenize_ms", "queue_ms", "encode_ms", "decode_ms", "generate_ms", "total_ms"} <= \
        set(debug["timings_ms"])
    assert debug["timings_ms"]["steps"] >= 1 and debug["source_tokens"] > 60


def test_concurrent_requests_of_different_lengths_answer_as_alone(services):
    """A 3-language source (79 tokens) and a 1-language one (30): alone, then together."""
    bodies = [{"lang": "en", "title": "Danube", "num_beams": 2}, {"lang": "en", "title": "Jonas Berger", "num_beams": 2}]
    for model in (FAST, SLOW):  # SLOW: 2 + 2 rows, all it has
        alone = [call(services.url, body, model) for body in bodies]
        steps = metric(services.url, "lwt_generation_steps", model)
        together = concurrently(*(lambda b=b: call(services.url, b, model) for b in bodies))
        assert together == alone and all(status == 200 for status, _ in alone), model
        if model == SLOW:  # 299 steps each: they shared steps instead of taking turns
            assert metric(services.url, "lwt_generation_steps", model) - steps < 2 * (SLOW_LENGTH - 1)
    mixed = [*bodies[:1], {"lang": "en", "title": "Jonas Berger", "num_beams": 4},
             {"lang": "fr", "title": "Tour Eiffel", "num_beams": 1}]
    alone = [call(services.url, body) for body in mixed]
    assert concurrently(*(lambda b=b: call(services.url, b) for b in mixed)) == alone


@pytest.mark.parametrize("body, status, kind", [
    ({"lang": "en", "title": "No such page", "num_beams": 2}, 404, "PageNotFound"),
    ({"lang": "xx", "title": "Danube", "num_beams": 2}, 400, "BadRequest"),
    ({"lang": "en", "title": "Danube", "num_beams": 0}, 400, "BadRequest"),
    ({"lang": "en", "title": "Danube", "num_beams": 5}, 400, "BadRequest"),  # over descriptions_max_beams
    ({"lang": "en", "title": "Danube", "num_beams": "2"}, 400, "BadRequest"),
    ({"lang": "en", "title": "Danube", "num_beams": True}, 400, "BadRequest"),
    ({"lang": "en", "title": "", "num_beams": 2}, 400, "BadRequest"),
    ({"lang": "en", "title": "Danube", "num_beams": 2, "debug": "yes"}, 400, "BadRequest"),
    ({"lang": "en", "title": "Danube", "beams": 2}, 400, "BadRequest"),
    ({"lang": "en", "title": "Bad[title]"}, 400, "BadRequest"),
    ({"lang": "en", "title": "Untitled stub"}, 422, "NoLeadText"),
    (["en", "Danube"], 400, "BadRequest"),
])
def test_bad_inputs_are_answered_4xx(services, body, status, kind):
    got, answer = call(services.url, body)
    assert (got, answer["error"]["type"]) == (status, kind), answer


def test_a_body_that_is_not_json_is_400(services):
    status, answer = call(services.url, None, raw=b"lang=en&title=Danube")
    assert status == 400 and answer["error"]["type"] == "BadRequest"
    assert call(services.url, {"lang": "en", "title": "Danube"})[0] == 200  # and the service goes on


def test_a_client_that_leaves_mid_generation_frees_its_rows(services):
    """The slow model has 4 rows: a 4-beam request fills them, a 2-beam one waits; the
    first client hangs up mid-generation, and the waiting request gets its rows at once."""
    url = services.url
    before = {o: metric(url, "lwt_generation_requests", SLOW, o) for o in ("cancelled", "completed")}
    steps = metric(url, "lwt_generation_steps", SLOW)
    body = json.dumps({"lang": "en", "title": "Danube", "num_beams": 4}).encode()
    client = socket.create_connection(("127.0.0.1", services.port), timeout=30)
    client.sendall(f"POST /v1/models/{SLOW}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    wait_for(lambda: metric(url, "lwt_generation_rows", SLOW) == 4)  # decoding, every row taken
    waiting: list = []
    thread = threading.Thread(target=lambda: waiting.append(call(url, {"lang": "en", "title": "Eiffel Tower",
                                                                       "num_beams": 2}, SLOW)))
    thread.start()
    wait_for(lambda: metric(url, "lwt_generation_waiting", SLOW) == 1)
    client.close()  # the client goes away
    thread.join(timeout=120)
    assert waiting and waiting[0][0] == 200 and len(waiting[0][1]["prediction"]) == 2
    assert metric(url, "lwt_generation_requests", SLOW, "cancelled") == before["cancelled"] + 1
    assert metric(url, "lwt_generation_requests", SLOW, "completed") == before["completed"] + 1
    assert metric(url, "lwt_generation_steps", SLOW) - steps < 2 * (SLOW_LENGTH - 1)  # the first stopped early
    wait_for(lambda: metric(url, "lwt_generation_rows", SLOW) == 0 and metric(url, "lwt_generation_triton_rows", SLOW) == 0)
