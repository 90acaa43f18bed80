"""Results for machines (JSON) and people (a Markdown table, a PNG of latency against rps)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display here
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ("name", "rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "errors", "server_cpu_percent",
           "server_max_rss_mb", "loadgen_cpu_percent", "generator")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def markdown(model: str, results: list[dict[str, Any]], command: str) -> str:
    lines = [f"### {model}", "", f"`{command}` on {machine()['cpus']} cores ({machine()['platform']})", "",
             "| " + " | ".join(COLUMNS) + " | SLO max rps |", "|" + "---|" * (len(COLUMNS) + 1)]
    for r in results:
        slo = r.get("slo", {}).get("max_rps_within_slo", "")
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + f" | {slo} |")
    ratios = []
    for r in results:  # against "baseline", or "baseline-cN" at the same client concurrency
        baseline = next((b for b in results if b["name"] == "baseline" or (
            b["name"].startswith("baseline-") and b.get("concurrency") == r.get("concurrency"))), None)
        if baseline and baseline["rps"] and not r["name"].startswith("baseline"):
            ratios.append(f"- {r['name']}: {r['rps'] / baseline['rps']:.1f}x the baseline's rps, p95 {r.get('p95_ms')} "
                          f"ms, p99 {r['p99_ms']} ms (baseline p95 {baseline.get('p95_ms')} ms, p99 {baseline['p99_ms']} ms)")
    if ratios:
        lines += ["", *ratios]
    identity = next((r for r in results if r["name"] == "identity"), None)
    batched = next((r for r in results if r["name"] == "triton-batched"), None)
    if identity and batched and identity["rps"]:
        lines.append(f"- triton-batched reaches {100 * batched['rps'] / identity['rps']:.0f}% of the identity "
                     f"model's rps (the protocol ceiling)")
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        sweep = r.get("slo", {}).get("sweep")
        if sweep:
            ax.plot([p["rps"] for p in sweep], [p["p99_ms"] for p in sweep], marker="o", label=r["name"])
        else:
            ax.plot([r["rps"]], [r["p99_ms"]], marker="o", linestyle="", label=r["name"])
    ax.set_xlabel("requests per second")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(folder: Path, model: str, results: list[dict[str, Any]], command: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / f"{model}.json", "markdown": folder / f"{model}.md", "png": folder / f"{model}.png"}
    paths["json"].write_text(json.dumps({"model": model, "command": command, "machine": machine(),
                                         "scenarios": results}, indent=2))
    paths["markdown"].write_text(markdown(model, results, command))
    plot(results, paths["png"], f"{model}: p99 latency against rps")
    return paths
