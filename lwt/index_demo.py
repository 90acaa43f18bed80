"""The related-articles step of `lwt demo`: index the fixture wiki with `mini-embedding`
through the running Triton, then ask the running services for one page's neighbours.

The services pick the new index up by themselves (they reload it when it changes on disk),
so this step needs no restart. The index is built by `lwt index build` in a child process:
the builder talks to Triton through KServe's client, whose protobufs clash with
tritonclient's, which the demo's own process has loaded (exporters).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from exporters.contract.layout import latest_version
from lwt.stack.triton import TritonServer
from lwt.stack.wiki import FIXTURES, LocalWiki
from transformers_svc.embedding_svc.index import INDEX, MANIFEST, IndexBuildError

MODEL = "mini-embedding"
TOPICS = FIXTURES / "topics.yaml"


def demo_seed() -> str:
    return str(yaml.safe_load(TOPICS.read_text()).get("demo_seed") or "Mars")


def related(services_url: str, title: str, count: int = 3, model: str = MODEL) -> tuple[int, Any]:
    query = urllib.parse.urlencode({"title": title, "count": count})
    try:
        with urllib.request.urlopen(f"{services_url}/v1/models/{model}/related?{query}", timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def recommend(repository: Path, triton: TritonServer, wiki: LocalWiki, services_url: str) -> list[dict[str, Any]]:
    """Build the fixture wiki's index beside `mini-embedding`, print one recommendation."""
    if latest_version(Path(repository) / MODEL) is None:
        print(f"    no {MODEL} in {repository} (exported with the transformers): no related articles", flush=True)
        return []
    built = subprocess.run([sys.executable, "-m", "lwt", "--log-level", "WARNING", "index", "build", "--wiki",
                            wiki.api_url, "--repository", str(repository), "--model", MODEL, "--triton",
                            triton.http_url, "--no-progress"], capture_output=True, text=True)
    if built.returncode != 0:
        raise IndexBuildError(f"lwt index build failed: {(built.stderr.strip().splitlines() or ['?'])[-1]}")
    version = latest_version(Path(repository) / MODEL)
    assert version is not None
    m = json.loads((version / INDEX / MANIFEST).read_text())
    print(f"    indexed {m['pages']} pages of the fixture wiki with {MODEL} v{m['model_version']} in "
          f"{m['build_seconds']:.1f} s ({m['kind']} FAISS index in {version / INDEX})", flush=True)
    seed = demo_seed()
    status, answer = related(services_url, seed)
    shown = ", ".join(f"{r['title']} ({r['score']:.2f})" for r in answer) if status == 200 else json.dumps(answer)
    print(f"    [{status}] related to {seed!r}: {shown}", flush=True)
    print(f"    curl -s '{services_url}/v1/models/{MODEL}/related?title={urllib.parse.quote(seed)}&count=5'",
          flush=True)
    return answer if status == 200 else []
