"""Starting and stopping the real servers the project runs (Triton, Swift, MediaWiki, the
services): each lives in a process group of its own, so stopping it ends its children too."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable


def stop_group(process: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent
    except ProcessLookupError:
        pass
    process.wait()


def wait_ready(process: subprocess.Popen, url: str, timeout: float) -> str:
    """Poll `url` until it answers 2xx: "ready"; or the process ends: "exited"; or "timeout"."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if 200 <= answer.status < 300:
                    return "ready"
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return "timeout"


def wait_for_signal(alive: Callable[[], bool]) -> str:
    """Block until SIGINT/SIGTERM (or until `alive()` turns false); name what ended it."""
    stop = threading.Event()
    reason = {"why": "a server exited"}

    def handle(signum: int, _frame: object) -> None:
        reason["why"] = signal.Signals(signum).name
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if not alive():
                break
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return reason["why"]


def foreground(pidfile: Path, lines: list[str], alive: Callable[[], bool], stop: Callable[[], None]) -> None:
    """The foreground half of `lwt store up` / `lwt wiki up`: record our pid for `down`,
    announce, wait for SIGINT/SIGTERM (or a dead server), stop everything."""
    pidfile.write_text(str(os.getpid()))
    try:
        for line in lines:
            print(line, flush=True)
        wait_for_signal(alive)
    finally:
        stop()
        pidfile.unlink(missing_ok=True)


def stop_by_pidfile(pidfile: Path, what: str, error: type[Exception], timeout: float = 15.0) -> None:
    """`lwt store down` / `lwt wiki down`: signal the foreground `up` process, wait for it."""
    if not pidfile.is_file():
        raise error(f"no {what} running from {pidfile.parent} (no {pidfile.name})")
    try:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        raise error(f"the {what} process is gone") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pidfile.exists():
            return
        time.sleep(0.1)
    raise error(f"the {what} did not stop within {timeout:.0f} s")
