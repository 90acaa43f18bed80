"""Realistic sequence lengths for the text benchmarks, and what padding costs.

`lwt bench compare bert-base --lengths fixture|FILE` draws each request from real revision
texts instead of a fixed 128 tokens: the fixture wiki's revisions paired with their
parents (what the text service tokenises), read straight from the shipped dumps, or the
texts of a file (one per line). Each request is padded as the text service pads it (to a
multiple of its bucket); the padding waste is padded tokens over real tokens. The
baseline (PyTorch eager, per request) gets the unpadded tokens, as today's server would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoTokenizer

from benchmarks.compare import Scenario, http_target
from benchmarks.models import BenchModel
from lwt.stack.triton import TritonServer
from lwt.stack.wiki import fixture_dumps

BUCKETS = (8, 16, 32, 64)
_NS = "{http://www.mediawiki.org/xml/export-0.11/}"


def fixture_pairs() -> list[tuple[str, str]]:
    """(parent text, text) for every revision of the shipped dumps, in page order."""
    pairs = []
    for dump in fixture_dumps():
        for page in ET.parse(dump).getroot().iter(f"{_NS}page"):
            previous = ""
            for revision in page.iter(f"{_NS}revision"):
                text = revision.findtext(f"{_NS}text") or ""
                pairs.append((previous, text))
                previous = text
    return pairs


def file_pairs(path: Path) -> list[tuple[str, str]]:
    return [("", line) for line in Path(path).read_text().splitlines() if line.strip()]


def _pad(ids: list[int], width: int) -> np.ndarray:
    row = np.zeros((1, width), dtype=np.int64)
    row[0, : len(ids)] = ids
    return row


def rows_for(tokenizer: Any, pairs: list[tuple[str, str]], max_length: int, bucket: int,
             names: list[str]) -> tuple[list[dict[str, np.ndarray]], float]:
    """One request's tensors per pair, padded to a multiple of `bucket`; and the padding waste."""
    rows, real, padded = [], 0, 0
    for parent, text in pairs:
        encoded = tokenizer(parent, text, truncation="longest_first", max_length=max_length) if parent else \
            tokenizer(text, truncation=True, max_length=max_length)
        length = len(encoded["input_ids"])
        width = min(-(-length // bucket) * bucket, max_length) if bucket > 1 else length
        rows.append({n: _pad(encoded[n], width) for n in names})
        real, padded = real + length, padded + width
    return rows, round((padded - real) / real, 4)


def with_lengths(bench: BenchModel, source: str, max_length: int = 128) -> BenchModel:
    """The text benchmark with requests of real lengths, one Triton scenario per bucket."""
    if bench.kind != "text":
        raise ValueError("--lengths applies to the text models (bert-base, bert-tiny)")
    pairs = fixture_pairs() if source == "fixture" else file_pairs(Path(source))
    if not pairs:
        raise ValueError(f"no texts in {source}")
    tokenizer = AutoTokenizer.from_pretrained(str(bench.source), local_files_only=True)
    names = list(bench.row)
    baseline_rows, _ = rows_for(tokenizer, pairs, max_length, 1, names)
    bucketed = {b: rows_for(tokenizer, pairs, max_length, b, names) for b in BUCKETS}
    lengths = [r[names[0]].shape[1] for r in baseline_rows]

    def scenarios(bench: BenchModel, triton: TritonServer, baseline: Any) -> list[Scenario]:
        tpid = lambda: triton.process.pid  # noqa: E731
        found = [Scenario("baseline", http_target(baseline.port, bench.name, baseline_rows),
                          lambda: baseline.process.pid, "KServe Python server, PyTorch eager, unpadded")]
        for variant in ("fp32", "int8"):
            for b in ((16,) if variant == "fp32" else BUCKETS):
                rows, waste = bucketed[b]
                found.append(Scenario(f"triton-{variant}-b{b}", http_target(triton.ports.http,
                                                                              f"{bench.name}-{variant}", rows),
                                      tpid, f"Triton + ONNX {variant}, padded to multiples of {b} "
                                            f"(padding waste {waste:.0%})"))
        return found

    bench.scenarios = scenarios
    bench.lengths = {"source": source, "requests": len(lengths), "p50_tokens": float(np.median(lengths)),
                     "p90_tokens": float(np.percentile(lengths, 90)), "max_tokens": int(max(lengths)),
                     "padding_waste": {f"b{b}": w for b, (_, w) in bucketed.items()}}
    return bench
