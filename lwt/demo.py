"""`lwt demo`: the whole path on embedded defaults, what `make demo` runs.

Exports the shipped models (parity-checked), starts a real Swift and pushes them, pulls
them back (sha512-verified), starts the fixture MediaWiki, serves the pulled repository
with the real Triton and the transformer services, scores the fixture revisions through
the Lift Wing API, prints the answers and a `curl` line, and keeps serving until Ctrl-C
stops everything it started (in reverse order).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from exporters.shipped import export_shipped
from exporters.store.pull import pull_verified
from exporters.store.push import push
from exporters.store.s3 import client
from lwt.index_demo import recommend
from lwt.stack.process import free_port, serve_until_stopped
from lwt.stack.redis import RedisServer
from lwt.stack.services import ServicesProcess
from lwt.stack.swift import SwiftStore
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

ROLES = ("good_edit", "bot_fix", "vandalism_badwords", "vandalism_informal", "vandalism_keymash",
         "vandalism_blanking", "page_creation_new_user", "hidden_text")


def _step(text: str) -> None:
    print(text, flush=True)


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _families(services_url: str, revs: dict[str, int]) -> None:
    """One request to each other shipped service, and ORES' many-models route."""
    v1 = f"{services_url}/v1/models"
    calls = [("langid", {"text": "Das ist ein kleiner Test"}),
             ("outlink-topic-model", {"page_title": "Physics overview (outlink fixture)", "lang": "en"}),
             ("revertrisk-language-agnostic", {"lang": "en", "rev_id": revs["vandalism_badwords"]})]
    for name, body in calls:
        status, answer = _post(f"{v1}/{name}:predict", body)
        _step(f"    [{status}] {name:<29} {json.dumps(body)} -> {json.dumps(answer)[:200]}")
    ids = "|".join(str(revs[r]) for r in ("good_edit", "vandalism_badwords", "bot_fix"))
    status, answer = _get(f"{services_url}/v3/scores/enwiki/?revids={ids}")
    scores = answer.get("enwiki", {}).get("scores", {}) if status == 200 else {}
    _step(f"    [{status}] ORES v3 /v3/scores/enwiki/?revids={ids}: {sum(len(s) for s in scores.values())} "
          f"scores of {len(scores)} revisions in one request")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # the demo prints its own progress
    warnings.filterwarnings("ignore")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lwt-demo-")).resolve()
    progress = sys.stderr.isatty()
    with ExitStack() as stack:
        _step(f"1/7 exporting the shipped models into {workdir / 'exported'} (parity checked) ...")
        for summary in export_shipped(workdir / "exported", force=True, progress=progress,
                                      transformers=not args.no_transformers):
            p = summary["parity"]
            _step(f"    {summary['name']} v{summary['version']}: parity on {p['rows']} rows, "
                  f"max abs diff {p['max_abs_diff']:.1e}")
        _step(f"2/7 starting a real OpenStack Swift on 127.0.0.1:{args.store_port} and pushing ...")
        store = SwiftStore(workdir / "swift", args.store_port)
        stack.callback(store.stop)
        store.start()
        env = store.environment()
        s3 = client(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                    env["AWS_DEFAULT_REGION"])
        for item in push(workdir / "exported", "s3://models/demo", s3, progress=progress):
            _step(f"    published {item['url']}")
        _step("3/7 pulling the repository back, verifying every sha512 ...")
        os.environ.update(env)
        pulled = pull_verified("s3://models/demo", workdir / "repository", s3, None, progress)
        _step(f"    verified {', '.join(p['model'] for p in pulled)}")
        _step(f"4/7 starting the fixture MediaWiki on 127.0.0.1:{args.wiki_port} ...")
        wiki = LocalWiki(workdir / "wiki", args.wiki_port)
        stack.callback(wiki.stop)
        wiki.start()
        revs = json.loads((wiki.folder / "revisions.json").read_text())
        _step("5/7 serving with Triton and the transformer services (score cache: a local Redis) ...")
        cache = RedisServer(workdir / "redis", free_port())
        stack.callback(cache.stop)
        cache.start()
        triton = TritonServer(workdir / "repository", Ports(args.http_port, args.grpc_port, args.metrics_port),
                              workdir=workdir / "triton")
        stack.callback(triton.stop)
        triton.start()
        services = ServicesProcess(workdir / "repository", args.services_port, triton.http_url, wiki.api_url,
                                   log_path=workdir / "services.log", options={"cache": cache.url})
        stack.callback(services.stop)
        services.start()
        url = f"{services.url}/v1/models/enwiki-reverted:predict"
        _step(f"6/7 scoring the fixture revisions through {url}:")
        for role in ROLES:
            status, answer = _post(url, {"rev_id": revs[role]})
            entry = answer.get("enwiki", {}).get("scores", {}).get(str(revs[role]), {}).get("reverted", answer)
            _step(f"    [{status}] {role:<24} rev {revs[role]:>3}: {json.dumps(entry)}")
        _step("7/7 the other model families on the same Triton:")
        _families(services.url, revs)
        recommend(workdir / "repository", triton, wiki, services.url)
        _step(f"\nTry it:\n  curl -s -X POST {url} -H 'Content-Type: application/json' "
              f"-d '{{\"rev_ids\": [{revs['good_edit']}, {revs['vandalism_badwords']}]}}'\n"
              f"  curl -s '{services.url}/v3/scores/enwiki/?revids={revs['good_edit']}|{revs['vandalism_badwords']}'\n"
              f"  curl -s http://{triton.http_url}/v2/models/enwiki-reverted/stats\n"
              f"Logs: {triton.log_path}, {services.log_path}")
        if args.no_wait:
            return 0
        _step("Serving; Ctrl-C stops everything.")
        serve_until_stopped(lambda: triton.alive() and services.alive())
    return 0
