"""`lwt bench slo MODEL --slo 'p99<=500ms'`: the most rps a model sustains within an SLO,
as Lift Wing's hosting stages ask ("a basic load test to figure out how many rps the model
server can sustain; the team sets a target SLO").

An open-loop rate sweep (k6: requests start on schedule, so queueing counts against the
latency) through the whole path a client calls: `services` (the transformer service, the
local MediaWiki behind nginx + PHP-FPM, Triton; no score cache, so every request does the
whole path) or `triton` (one row straight to Triton over v2). The rate rises geometrically
until the SLO breaks; then it is refined between the last good and the first bad rate.
The report (JSON, Markdown, the p99-against-rps plot) is what a model owner pastes into a
hosting request.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import k6, report
from benchmarks.sweep import Slo
from exporters.contract.card import read_card
from exporters.contract.layout import latest_version
from exporters.verify_data import read_verify_data
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

SHIPPED = Path(__file__).resolve().parents[1] / "model_repository"
TESTING = Path(__file__).resolve().parents[1] / "exporters" / "data" / "editquality" / \
    "enwiki.features_reverted.testing.20k_2015.tsv.bz2"
TEXTS = ["Photosynthesis converts light energy into chemical energy.",
         "Der Jazz ist eine um 1900 in den Südstaaten der USA entstandene Musikrichtung.",
         "La photosynthèse est le processus bioénergétique des plantes.",
         "Mount Everest is Earth's highest mountain above sea level."]


def _service_bodies(service: str | None, rev_ids: list[int]) -> list[str]:
    """What a client of the model's service sends, over the fixture's revisions or texts."""
    if service == "revscoring":
        return [json.dumps({"rev_id": r}) for r in rev_ids]
    if service in ("text-classification", "revertrisk-language-agnostic"):
        return [json.dumps({"lang": "en", "rev_id": r}) for r in rev_ids]
    if service in ("langid", "embedding"):
        return [json.dumps({"text": t}) for t in TEXTS]
    raise ValueError(f"no SLO request shape for the {service!r} service yet")


def _triton_bodies(card: Any) -> list[str]:
    if card.inputs[0].datatype != "FP32" or len(card.inputs) != 1:
        raise ValueError(f"--through triton sends one FP32 feature row; {card.name} takes other inputs")
    width = card.inputs[0].shape[-1]
    rows = read_verify_data(TESTING, width)[:200] if width == 9 else \
        np.random.default_rng(0).normal(size=(200, width)).astype(np.float32)
    return [json.dumps({"inputs": [{"name": card.inputs[0].name, "shape": [1, width], "datatype": "FP32",
                                    "data": [float(v) for v in row]}]}) for row in rows]


def _answers(url: str, body: str) -> bool:
    """Keep only requests the service scores (a fixture revision may be deleted on purpose):
    an error answer is not a failure of the path under load."""
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status == 200
    except urllib.error.HTTPError:
        return False


def sweep(url: str, bodies: list[str], slo: Slo, start: float, duration: float, steps: int) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    good, bad = 0.0, None
    rate = start
    for _ in range(steps):
        result = k6.run(url, bodies, rate, duration)
        point = {**result.__dict__, "met": slo.met({"errors": result.errors, f"p{slo.percentile}_ms":
                                                    getattr(result, f"p{slo.percentile}_ms")}) and not result.dropped}
        points.append(point)
        if point["met"]:
            good = max(good, result.rps)
            rate = rate * 1.6 if bad is None else (rate + bad) / 2
        else:
            bad = rate if bad is None else min(bad, rate)
            rate = (max(good, start / 2) + bad) / 2
        if bad is not None and bad - rate < max(1.0, 0.05 * bad):
            break
    return points


def measure_slo(model: str, slo: Slo, through: str, start: float, duration: float, steps: int,
                workers: int = 1) -> dict[str, Any]:
    model_dir = SHIPPED / model
    version = latest_version(model_dir) if model_dir.is_dir() else None
    if version is None:
        raise ValueError(f"no shipped model {model!r} (one of {', '.join(p.name for p in SHIPPED.iterdir() if p.is_dir())})")
    card = read_card(version)
    with tempfile.TemporaryDirectory(prefix="lwt-bench-slo-") as work, ExitStack() as stack:
        folder = Path(work)
        triton = TritonServer(SHIPPED, Ports(free_port(), free_port(), free_port()), workdir=folder / "triton")
        stack.callback(triton.stop)
        triton.start()
        if through == "triton":
            url, bodies = f"http://{triton.http_url}/v2/models/{model}/infer", _triton_bodies(card)
        else:
            wiki = LocalWiki(folder / "wiki", free_port())
            stack.callback(wiki.stop)
            wiki.start()
            revs = json.loads((wiki.folder / "revisions.json").read_text())
            rev_ids = sorted(r for role, r in revs.items() if not role.startswith("hidden"))[:40]
            services = ServicesProcess(SHIPPED, free_port(), triton.http_url, wiki.api_url, [model],
                                       log_path=folder / "services.log",
                                       options={"cache": "none", "workers": workers})
            stack.callback(services.stop)
            services.start()
            url = f"{services.url}/v1/models/{model}:predict"
            bodies = [b for b in _service_bodies(card.service, rev_ids) if _answers(url, b)]
        k6.run(url, bodies, start, 2)  # warm-up
        points = sweep(url, bodies, slo, start, duration, steps)
    best = max((p["rps"] for p in points if p["met"]), default=0.0)
    return {"model": model, "through": through, "slo": str(slo), "workers": workers, "max_rps_within_slo": best,
            "sweep": points}


def write(result: dict[str, Any], folder: Path, command: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"slo-{result['model']}-{result['through']}"
    paths = {"json": folder / f"{name}.json", "markdown": folder / f"{name}.md", "png": folder / f"{name}.png"}
    paths["json"].write_text(json.dumps({**result, "command": command, "machine": report.machine()}, indent=2))
    machine = report.machine()
    lines = [f"### {result['model']} through {result['through']}: SLO {result['slo']}", "",
             f"`{command}` on {machine['cpus']} cores ({machine['platform']}); open loop (k6)", "",
             f"**Most rps within the SLO: {result['max_rps_within_slo']}**", "",
             "| offered rps | answered rps | p50 ms | p90 ms | p99 ms | errors | dropped | k6 CPU % | SLO met |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {p['rate']:.1f} | {p['rps']} | {p['p50_ms']} | {p['p90_ms']} | {p['p99_ms']} | {p['errors']} | "
              f"{p['dropped']} | {p['loadgen_cpu_percent']} | {'yes' if p['met'] else 'no'} |" for p in result["sweep"]]
    paths["markdown"].write_text("\n".join(lines) + "\n")
    report.plot([{"name": f"{result['model']} via {result['through']}", "slo": {"sweep": result["sweep"]}}],
                paths["png"], f"{result['model']} through {result['through']}: p99 latency against rps")
    return paths
