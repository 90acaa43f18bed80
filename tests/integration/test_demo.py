"""`lwt demo` (what `make demo` runs) goes through the whole path and scores revisions."""

from __future__ import annotations

import re
import subprocess

from lwt.stack.process import free_port


def test_demo_exports_stores_pulls_serves_and_scores(lwt, tmp_path):
    ports = {name: str(free_port()) for name in ("http", "grpc", "metrics", "services", "store", "wiki")}
    result = subprocess.run(
        [*lwt, "--log-level", "WARNING", "demo", "--no-wait", "--workdir", str(tmp_path / "demo"),
         "--http-port", ports["http"], "--grpc-port", ports["grpc"], "--metrics-port", ports["metrics"],
         "--services-port", ports["services"], "--store-port", ports["store"], "--wiki-port", ports["wiki"]],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "parity on 4862 rows" in out and "verified enwiki-reverted" in out
    assert "[410] hidden_text" in out and "TextDeleted" in out
    p_true = {m[0]: float(m[1]) for m in re.findall(r"\[200\] (\w+)\s.*?\"true\": ([0-9.e-]+)", out)}
    assert p_true["vandalism_badwords"] > p_true["good_edit"] and p_true["vandalism_informal"] > p_true["bot_fix"]
    # the other families answer on the same Triton, and the fixture wiki's index recommends neighbours
    assert '[200] langid' in out and '"language": "de"' in out
    assert '[200] outlink-topic-model' in out and '"topic": "STEM.Physics"' in out
    assert '[200] revertrisk-language-agnostic' in out and re.search(r"\[200\] ORES v3 .*: 3 scores of 3 revisions", out)
    assert re.search(r"indexed \d+ pages of the fixture wiki with mini-embedding", out)
    assert re.search(r"\[200\] related to 'Mars': .*Saturn", out)
    assert f"curl -s -X POST http://127.0.0.1:{ports['services']}/v1/models/enwiki-reverted:predict" in out
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
