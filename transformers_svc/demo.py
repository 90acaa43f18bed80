"""`lwt demo`: the main job on embedded defaults, what `make demo` runs.

Builds the shipped models (train + export + parity), serves them with the real Triton
on 127.0.0.1, scores real enwiki revisions from the shipped testing file, prints the
answers and a `curl` line, and keeps serving until Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import bz2
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from transformers_svc.cli_serve import wait_for_signal
from transformers_svc.triton.server import Ports, TritonServer

log = logging.getLogger("lwt.demo")
MODEL = "enwiki-reverted"


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="export the shipped models, serve them, score revisions")
    demo.add_argument("--workdir", type=Path, help="where the demo builds (default: a temp folder)")
    demo.add_argument("--http-port", type=int, default=8000)
    demo.add_argument("--grpc-port", type=int, default=8001)
    demo.add_argument("--metrics-port", type=int, default=8002)
    demo.add_argument("--revisions", type=int, default=8, help="how many testing revisions to score")
    demo.add_argument("--no-wait", action="store_true", help="stop after scoring instead of serving on")
    demo.set_defaults(handler=run)


def testing_revisions(count: int) -> list[tuple[int, list[float], bool]]:
    """The first reverted and not-reverted revisions of the shipped testing file."""
    chosen: dict[bool, list] = {True: [], False: []}
    with bz2.open(TESTING, "rt") as handle:
        for line in handle:
            cells = line.rstrip("\n").split("\t")
            label = cells[-1] == "True"
            if len(chosen[label]) < (count + 1) // 2:
                values = [1.0 if c == "True" else 0.0 if c == "False" else float(c) for c in cells[1:-1]]
                chosen[label].append((int(cells[0]), values, label))
            if all(len(v) >= (count + 1) // 2 for v in chosen.values()):
                break
    return (chosen[True] + chosen[False])[:count]


def score(server: TritonServer, revisions: list[tuple[int, list[float], bool]]) -> list[dict]:
    client = httpclient.InferenceServerClient(server.http_url)
    X = np.array([values for _, values, _ in revisions], dtype=np.float32)
    tensor = httpclient.InferInput("input", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    probabilities = client.infer(MODEL, [tensor]).as_numpy("probabilities")
    return [
        {"rev_id": rev_id, "reverted": {"prediction": bool(p[1] > 0.5),
                                        "probability": {"true": round(float(p[1]), 4), "false": round(float(p[0]), 4)}},
         "was_reverted": label}
        for (rev_id, _, label), p in zip(revisions, probabilities)
    ]


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lwt-demo-"))
    repository = workdir / "repository"
    print(f"1/3 exporting the shipped models into {repository} ...", flush=True)
    for summary in export_shipped(repository, force=True, progress=sys.stderr.isatty()):
        p = summary["parity"]
        print(f"    {summary['name']} v{summary['version']}: parity on {p['rows']} real rows, "
              f"max abs diff {p['max_abs_diff']:.1e}", flush=True)
    print("2/3 starting Triton on 127.0.0.1 ...", flush=True)
    ports = Ports(args.http_port, args.grpc_port, args.metrics_port)
    server = TritonServer(repository, ports, workdir=workdir / "triton")
    server.start()
    try:
        print(f"3/3 scoring {args.revisions} real enwiki revisions (2015 features) with {MODEL}:", flush=True)
        for answer in score(server, testing_revisions(args.revisions)):
            print("    " + json.dumps(answer), flush=True)
        example = json.dumps({"inputs": [{"name": "input", "shape": [1, 9], "datatype": "FP32",
                                          "data": [3, 120, 0, 0, 0, 0.5, 1, 0, 0]}]})
        print(f"\nTry it:\n  curl -s -X POST http://{server.http_url}/v2/models/{MODEL}/infer -d '{example}'\n"
              f"Triton log: {server.log_path}", flush=True)
        if args.no_wait:
            return 0
        print("Serving; Ctrl-C stops everything.", flush=True)
        wait_for_signal(lambda: server.process is not None and server.process.poll() is None)
    finally:
        server.stop()
    return 0
