"""SIGINT or SIGTERM at any moment of `lwt serve`'s start-up or serving: exit 0, nothing left.

A first-round `lwt serve` started Triton before its cleanup was armed: a signal during
start-up left tritonserver and its stubs running (PPID 1, ports held), and `make test`
failed on it at random. Here the signal is sent at moments spread over the whole start-up
(pull-free repository, Triton, the services) and after it, several times each.

Moments count from when `lwt` catches SIGTERM (its SigCgt bit in /proc/<pid>/status): before
the interpreter has run a line of ours, the default action applies and nothing has been
started. A second-round run failed on the earliest moment (0.4 s) on a busy machine: the
console script imported every command before arming the handler, so SIGTERM killed it with
-15 in the middle of its imports; `lwt.entry` now arms it first, and the first moment here
is 0, in the middle of those imports.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from lwt.stack.process import free_port, port_in_use

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"


def _serve(lwt: list[str], workdir: Path, ports: list[int]) -> subprocess.Popen:
    return subprocess.Popen(
        [*lwt, "serve", "--repository", str(SHIPPED), "--http-port", str(ports[0]), "--grpc-port", str(ports[1]),
         "--metrics-port", str(ports[2]), "--supervisor-port", str(ports[3]), "--services",
         "--services-port", str(ports[4]), "--mediawiki-url", "http://127.0.0.1:9/api.php", "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _catches_sigterm(pid: int) -> bool:
    """Has the process installed its SIGTERM handler? (Python catches SIGINT from the
    start; SIGTERM only once `shutdown.install()` has run.)"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _armed(process: subprocess.Popen) -> float:
    """Wait until `lwt` can hear a signal; the monotonic time it could."""
    deadline = time.monotonic() + 60
    while not _catches_sigterm(process.pid):
        assert process.poll() is None, f"lwt exited with {process.returncode} before arming its handler"
        assert time.monotonic() < deadline, "lwt did not install its SIGTERM handler within 60 s"
        time.sleep(0.002)
    return time.monotonic()


def _watch(process: subprocess.Popen, until: float) -> set[int]:
    """Every descendant seen until `until` (or until the process ends)."""
    seen: set[int] = set()
    root = psutil.Process(process.pid)
    while time.monotonic() < until and process.poll() is None:
        try:
            seen.update(p.pid for p in root.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.03)
    return seen


def _ready_time(lwt: list[str], tmp_path: Path) -> float:
    ports = [free_port() for _ in range(5)]
    process = _serve(lwt, tmp_path / "warm", ports)
    try:
        started = _armed(process)
        assert "Triton ready" in process.stdout.readline()
        assert "Services ready" in process.stdout.readline()
        return time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_stops_everything_with_exit_0(lwt, tmp_path, signum):
    ready_after = _ready_time(lwt, tmp_path)
    rng = random.Random(signum)
    moments = [0.0, *sorted(rng.uniform(0.0, ready_after + 1.0) for _ in range(5))]
    for i, moment in enumerate(moments):
        ports = [free_port() for _ in range(5)]
        process = _serve(lwt, tmp_path / f"run{i}", ports)
        descendants = _watch(process, _armed(process) + moment)
        process.send_signal(signum)
        code = process.wait(timeout=90)
        stderr = process.stderr.read()
        assert code == 0, f"signal at {moment:.2f} s: exit {code}: {stderr[-500:]}"
        assert "Traceback" not in stderr
        alive = [p for p in descendants if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"signal at {moment:.2f} s left {alive} running"
        assert not any(port_in_use(p) for p in ports), f"signal at {moment:.2f} s left a port bound"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(("command", "code"), [(["serve", "--repository", "/nonexistent"], 0),
                                               (["chart", "values", "--repository", str(SHIPPED)], 130)])
def test_a_signal_during_the_imports_exits_as_the_command_says(lwt, signum, command, code):
    """Caught the moment the handler is armed, in the middle of importing every command:
    held until the arguments are parsed, then a foreground server exits 0, anything else 130."""
    process = subprocess.Popen([*lwt, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _armed(process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr[-500:]
    assert stderr == ""


def test_a_wiki_whose_install_was_interrupted_is_installed_again(lwt, tmp_path):
    """`lwt wiki up` stopped mid-install leaves LocalSettings.php without revisions.json (which
    is written last); the next `lwt wiki up` on that folder installs again and serves."""
    folder, port = tmp_path / "wiki", free_port()
    command = [*lwt, "wiki", "up", "--dir", str(folder), "--port", str(port)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (folder / "LocalSettings.php").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    assert not (folder / "revisions.json").exists(), "the install finished before the signal: nothing shown"
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = second.stdout.readline()
        assert "MediaWiki API ready" in line, second.stderr.read()[-2000:] if second.poll() is not None else line
        assert (folder / "revisions.json").is_file()
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    assert not port_in_use(port)
