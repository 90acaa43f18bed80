"""`lwt bench compare article-descriptions`: Lift Wing's generate()-per-request server against
the service + Triton path (fp32 and int8), at client concurrency 1 and 8, in one run.

The model: the mBART-large-shaped synthetic model (exporters/seq2seq/synthetic.py: 12+12
layers, d_model 1024, mBART's 250,027-row vocabulary; random weights: for shape and speed,
not quality) with every hypothesis exactly 20 tokens long (min_length = max_length = 20),
so both sides do the same work whatever the weights say. `article-descriptions-tiny` is
the same run on the tiny shape (2+2 layers, d_model 64): seconds to build, for tests. The request is the fixture wiki's
`Danube` page, num_beams 2: its lead and its German and Italian leads (79 source tokens).

* baseline-cN: `descriptions_baseline` (`--kind descriptions`), a KServe Python server that
  fetches the leads and runs PyTorch `generate()` per request, one request at a time;
* triton-fp32-cN / triton-int8-cN: `lwt serve --services` (Triton and the services under one
  parent, so the CPU column counts both), the article-descriptions service batching every
  request's decoding steps into one Triton call per step.
Both read the same fixture wiki (only descriptions.xml). Requests take seconds, so the
Python load generator runs them (wrk would time out at 10 s) and the rate counts until the
last answer; pass `--duration 60` or more for steadier numbers (the default 10 s is a look).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.compare import BaselineServer, Scenario
from benchmarks.load import Target
from benchmarks.models import BenchModel, identity_entry
from exporters.seq2seq.export import Seq2SeqExportOptions, export_seq2seq
from exporters.seq2seq.synthetic import build_mbart
from lwt.stack.process import ManagedProcess, free_port, http_ok
from lwt.stack.triton import TritonServer
from lwt.stack.wiki import FIXTURES, LocalWiki

FP32, INT8 = "article-descriptions", "article-descriptions-int8"
LENGTH = 20  # every hypothesis: min_length = max_length
NUM_BEAMS = 2
TITLE = "Danube"
CONCURRENCY = (1, 8)
PARITY_INPUTS = 8  # x greedy/beam 2/beam 4 with PyTorch generate(): minutes on the large model
TOLERANCE = 1e-3  # fp32's own limit on this model: PyTorch itself is 3-6e-4 from float64 (README)


class DescriptionsServe(ManagedProcess):
    """`lwt serve --services`: Triton and the article-descriptions services under one parent."""

    name = "lwt serve (Triton + article-descriptions)"
    start_timeout = 600.0  # the large graphs load in about a minute on a busy machine

    def __init__(self, repository: Path, workdir: Path, mediawiki_url: str) -> None:
        self.ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port(), "services": free_port()}
        super().__init__(workdir / "serve.log", self.ports)
        self.repository, self.workdir, self.mediawiki_url = repository, workdir, mediawiki_url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lwt", "--log-level", "WARNING", "serve", "--repository", str(self.repository),
                "--http-port", str(self.ports["http"]), "--grpc-port", str(self.ports["grpc"]),
                "--metrics-port", str(self.ports["metrics"]), "--supervisor-port", "0",
                "--services", f"{FP32},{INT8}", "--services-port", str(self.ports["services"]),
                "--mediawiki-url", self.mediawiki_url, "--workdir", str(self.workdir)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['services']}"

    def ready(self) -> bool:
        return http_ok(f"{self.url}/v2/health/ready")


def scenarios(bench: BenchModel, triton: TritonServer, baseline: BaselineServer) -> list[Scenario]:
    workdir = Path(tempfile.mkdtemp(prefix="lwt-bench-descriptions-"))
    atexit.register(shutil.rmtree, workdir, True)
    wiki = LocalWiki(workdir / "wiki", free_port(), [FIXTURES / "descriptions.xml"])
    atexit.register(wiki.stop)  # compare() stops the servers it started; these are ours
    wiki.start()
    serve = DescriptionsServe(bench.repository.parent / "served", workdir / "serve", wiki.api_url)
    atexit.register(serve.stop)
    serve.start()
    # compare() started the baseline before the wiki existed: again, pointed at the wiki.
    baseline.stop()
    baseline.environment = lambda: {**os.environ, "LWT_MEDIAWIKI_URL": wiki.api_url}  # type: ignore[method-assign]
    baseline.start()
    body = json.dumps({"lang": "en", "title": TITLE, "num_beams": NUM_BEAMS}).encode()

    def target(port: int, model: str) -> Target:
        return Target("http", "127.0.0.1", port, path=f"/v1/models/{model}:predict", body=body)

    what = f"{TITLE!r} (3 leads, 79 tokens), num_beams {NUM_BEAMS}, {LENGTH} tokens"
    found = []
    for clients in CONCURRENCY:
        found += [
            Scenario(f"baseline-c{clients}", target(baseline.port, bench.name), lambda: baseline.process.pid,
                     f"KServe Python server, PyTorch generate() per request, one at a time (Lift Wing today): {what}",
                     concurrency=clients, python_load=True),
            Scenario(f"triton-fp32-c{clients}", target(serve.ports["services"], FP32), lambda: serve.process.pid,
                     f"service + Triton fp32, every request's steps in one call per step: {what}",
                     concurrency=clients, python_load=True),
            Scenario(f"triton-int8-c{clients}", target(serve.ports["services"], INT8), lambda: serve.process.pid,
                     f"service + Triton int8 graphs, batched steps: {what}", concurrency=clients, python_load=True),
        ]
    return found


def build(name: str, folder: Path) -> BenchModel:
    """BUILDERS["article-descriptions"] (and "-tiny"): the synthetic mBART, its fp32 and int8
    entries (`served/`), and a repository with one identity entry for compare()'s own Triton."""
    source, served, idle = folder / "hf", folder / "served", folder / "repository"
    if not (folder / ".built").exists():
        shape = "tiny" if name.endswith("-tiny") else "large"
        build_mbart(source, shape, generation={"min_length": LENGTH, "max_length": LENGTH})
        for model, quantize in ((FP32, None), (INT8, "int8")):
            export_seq2seq(source, Seq2SeqExportOptions(
                name=model, repository=served, quantize=quantize, version=1, progress=False,
                tolerance=TOLERANCE, parity_inputs=PARITY_INPUTS, demonstration=True))
        identity_entry(idle, 8)  # compare() starts a Triton on bench.repository; ours runs under `lwt serve`
    return BenchModel(name, "seq2seq", source, idle, {}, baseline_kind="descriptions", scenarios=scenarios)
