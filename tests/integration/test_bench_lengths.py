"""`lwt bench compare --lengths fixture`: requests of real lengths, padding waste per bucket."""

from __future__ import annotations

import json
import subprocess


def test_lengths_from_the_fixture_wiki_and_padding_waste(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "bert-tiny", "--lengths", "fixture",
                             "--duration", "1", "--concurrency", "2", "--scenarios", "baseline,triton-int8-b8,"
                             "triton-int8-b64", "--results", str(tmp_path / "r"), "--json", str(tmp_path / "c.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads((tmp_path / "c.json").read_text())}
    assert set(rows) == {"baseline", "triton-int8-b8", "triton-int8-b64"}
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows.values())
    waste = dict(part.split(" ") for part in result.stdout.split("by bucket: ")[1].splitlines()[0].split(", "))
    assert float(waste["b8"].rstrip("%")) <= float(waste["b64"].rstrip("%"))  # finer buckets pad less


def test_lengths_need_a_text_model(lwt):
    result = subprocess.run([*lwt, "bench", "compare", "enwiki-reverted", "--lengths", "fixture"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "text models" in result.stderr
