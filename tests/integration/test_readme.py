"""Every command the README prints is run here, exactly as printed, at the default log level.

Each ```bash block of README.md is one test: its text runs verbatim in `bash -euo
pipefail` from the repository root. A line ending in `&` starts a server in the
background, as a user would; the block itself waits for readiness the way the README
tells users to (`curl --retry ...`). When the block ends, every server it started gets
SIGTERM and must exit 0; any command that fails, exits non-zero or prints a traceback
fails the test, and every `lwt bench ... --json FILE` gets its report checked
(`bench_reports.py`): these runs are the benchmarks' smoke runs. Only durations are
shortened (`--duration N` -> 1, ...), through the documented flags. A block preceded by `<!-- not run by the tests: REASON -->` is skipped
with its reason (what needs a Docker engine or a Kubernetes cluster, and the two set-up
commands, which are what CI runs). The README's ports and /tmp paths are the documented
defaults, so one README run at a time per machine (a lock: a second test session waits for
it, untimed), and the checkout must be left unchanged.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration import bench_reports

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP = re.compile(r"<!-- not run by the tests: (.+?) -->\s*$")
SHORTER = [(re.compile(r"--duration \d+(\.\d+)?"), "--duration 1"), (re.compile(r"--steps \d+"), "--steps 2"),
           (re.compile(r"--requests \d+"), "--requests 6"), (re.compile(r"--settle \d+"), "--settle 4"),
           (re.compile(r"--rounds \d+"), "--rounds 1")]
EPILOGUE = """
status=0
for job in $(jobs -p); do kill -TERM "$job" 2>/dev/null || true; done
for job in $(jobs -p); do wait "$job" || { echo "a background server exited with $?" >&2; status=1; }; done
exit $status
"""


def blocks() -> list[tuple[str, str, str | None]]:
    """(id, script, skip reason) for every ```bash block, numbered in README order."""
    found, lines = [], README.read_text().splitlines()
    i, number = 0, 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skip = SKIP.search(previous)
            end = lines.index("```", i + 1)
            number += 1
            body = "\n".join(lines[i + 1:end])
            first = next((l for l in lines[i + 1:end] if l.strip() and not l.startswith("#")), "").split(" #")[0]
            found.append((f"{number:02d}-{first.strip()[:60]}", body, skip.group(1) if skip else None))
            i = end
        i += 1
    return found


def _shorter(script: str) -> str:
    for pattern, replacement in SHORTER:
        script = pattern.sub(replacement, script)
    return script


@pytest.fixture(scope="module")
def readme_lock():
    """The README's ports are fixed defaults: one README run per machine at a time."""
    with open(Path(tempfile.gettempdir()) / "lwt-readme-commands.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        yield
        after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        assert after == before, "README commands must not change the checkout"


def test_every_command_block_is_runnable_or_says_why_not():
    found = blocks()
    assert len(found) > 10
    for block_id, script, reason in found:
        assert reason or ".venv/bin/lwt" in script or "curl" in script or "helm" in script, block_id


# The block's run is timed, not the wait for the lock: another session's README runs on this
# machine (10-20 minutes) would otherwise time this one out before it starts.
@pytest.mark.timeout(900, func_only=True)
@pytest.mark.parametrize(("block_id", "script", "reason"), blocks(), ids=[b[0] for b in blocks()])
def test_readme_block(readme_lock, block_id, script, reason, tmp_path):
    if reason:
        pytest.skip(reason)
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + _shorter(script) + "\n" + EPILOGUE],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, f"{block_id} exited {result.returncode}:\n{output}"
    assert "Traceback" not in result.stdout + result.stderr, output
    assert "lwt: error" not in result.stderr, output
    bench_reports.check_block(script, result.stdout, result.stderr)
