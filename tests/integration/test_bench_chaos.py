"""`lwt bench chaos`: faults behind the services give answers, never hangs or lost answers."""

from __future__ import annotations

import json
import subprocess


def test_chaos_report_has_no_hung_or_lost_request(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "chaos", "--rate", "6", "--hold", "2",
                             "--settle", "6", "--faults", "triton-killed,mediawiki-stopped,mediawiki-slow",
                             "--json", str(tmp_path / "chaos.json")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = {r["fault"]: r for r in json.loads((tmp_path / "chaos.json").read_text())}
    assert set(rows) == {"triton-killed", "mediawiki-stopped", "mediawiki-slow"}
    expected = {"triton-killed": "503", "mediawiki-stopped": "502", "mediawiki-slow": "504"}
    for fault, row in rows.items():
        assert row["hung"] == 0 and row["lost"] == 0, row
        assert row["by_status"].get(expected[fault], 0) > 0, row  # the fault was seen, with its own status
        assert row["by_status"].get("200", 0) > 0 and row["recovered_after_repair_s"] is not None, row
    assert "| triton-killed |" in result.stdout
