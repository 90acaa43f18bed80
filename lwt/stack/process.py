"""The one managed-process base for every server the project starts.

Triton, the services, Swift (and its memcached), MediaWiki, Redis and the benchmark
baseline are each a `ManagedProcess`: started with a log file in a process group of its
own, one readiness wait, one message for a taken port, one stop for the whole group
(SIGTERM, then SIGKILL for whatever outlived the grace period).

Signals at any moment (`lwt.stack.shutdown`): a child is spawned or stopped inside
`shutdown.deferred()`, so it is always registered for cleanup before a signal is seen and a
stop is never cut short.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Protocol

from exporters.contract.errors import LwtError
from lwt.stack.shutdown import shutdown


class ServerError(LwtError):
    """A server could not be started, or stopped answering; one line (or a few) says why."""

    status, exit_code, kind = 503, 1, "ServerError"


# Ports are handed out below Linux's ephemeral range (32768-60999), where the kernel picks
# the local ports of outgoing connections: a port we chose cannot be taken by a client
# socket before our server binds it. A lock file per port, held while this process lives,
# keeps two processes on one machine (two test sessions) from being given the same port.
PORT_RANGE = (20000, 32000)
_PORT_LOCKS = Path(tempfile.gettempdir()) / "lwt-port-locks"
_HELD: dict[int, int] = {}


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A loopback port no process uses and no other caller on this machine is given."""
    _PORT_LOCKS.mkdir(mode=0o777, exist_ok=True)
    for _ in range(500):
        port = random.randrange(*PORT_RANGE)
        if port in _HELD:
            continue
        fd = os.open(_PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                continue
            raise
        if port_in_use(port):
            os.close(fd)
            continue
        _HELD[port] = fd
        return port
    raise ServerError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} on 127.0.0.1")


def http_ok(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> bool:
    """Does `url` answer 2xx?"""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as answer:
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_group(process: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
    if process is None:
        return
    with shutdown.deferred(raise_after=False):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()


class ManagedProcess:
    """One server process. Subclasses give `command()` and `ready()`; the rest is here."""

    name = "server"
    error: type[LwtError] = ServerError
    start_timeout = 60.0
    stop_grace = 10.0
    new_session = True  # a process group of its own; False: stays in ours (stopped with us)

    def __init__(self, log_path: Path, ports: dict[str, int] | None = None, cwd: Path | None = None) -> None:
        self.log_path = Path(log_path)
        self.listens = dict(ports or {})  # label -> port, checked free before the start
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    # --- to give ---------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        """True once the server answers; the default: it is running."""
        return True

    def prepare(self) -> None:
        """Work before the spawn (configs, folders); may raise `self.error`."""

    # --- the same for every server ---------------------------------------------------------
    def start(self, timeout: float | None = None) -> "ManagedProcess":
        for label, port in self.listens.items():
            if port_in_use(port):
                raise self.error(f"{self.name}: {label} port {port} on 127.0.0.1 is already in use")
        self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with shutdown.deferred(), open(self.log_path, "ab") as log_file:
                self.process = subprocess.Popen(self.command(), stdout=log_file, stderr=subprocess.STDOUT,
                                                env=self.environment(), cwd=self.cwd,
                                                start_new_session=self.new_session)
            self._wait_ready(timeout if timeout is not None else self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.error(f"{self.name} exited with code {self.process.returncode} before it was ready "
                                 f"(log: {self.log_path}){self.failure_details()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise self.error(f"{self.name} was not ready after {timeout:.0f} s (log: {self.log_path})")

    def failure_details(self) -> str:
        tail = self.log_tail(3)
        return f": {tail}" if tail else ""

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float | None = None) -> None:
        if self.new_session:
            stop_group(self.process, self.stop_grace if grace is None else grace)
        elif self.process is not None and self.process.poll() is None:
            with shutdown.deferred(raise_after=False):
                self.process.terminate()
                try:
                    self.process.wait(self.stop_grace if grace is None else grace)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()

    def __enter__(self) -> "ManagedProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_until_stopped(alive: Callable[[], bool], every: float = 0.5) -> str:
    """Block until a signal (`Interrupted` propagates) or until `alive()` turns false."""
    shutdown.check()
    while alive():
        time.sleep(every)
    return "a server exited"


class Server(Protocol):
    def start(self) -> Any: ...
    def alive(self) -> bool: ...
    def stop(self) -> None: ...


def foreground(server: Server, pidfile: Path, announce: Callable[[], list[str]]) -> None:
    """`lwt store|wiki|cache up`: start, record our pid for `down`, announce, serve until
    SIGINT/SIGTERM (or a dead server), stop, then drop the pidfile (so `down` returns
    only once everything is stopped)."""
    try:
        server.start()
        pidfile.write_text(str(os.getpid()))
        for line in announce():
            print(line, flush=True)
        serve_until_stopped(server.alive)
    finally:
        with shutdown.deferred(raise_after=False):
            server.stop()
            pidfile.unlink(missing_ok=True)


def stop_by_pidfile(pidfile: Path, what: str, error: type[LwtError], timeout: float = 15.0) -> None:
    """`lwt store|wiki|cache down`: signal the foreground `up` process, wait for it."""
    if not pidfile.is_file():
        raise error(f"no {what} running from {pidfile.parent} (no {pidfile.name})")
    try:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pidfile.unlink(missing_ok=True)
        raise error(f"the {what} process is gone") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pidfile.exists():
            return
        time.sleep(0.1)
    raise error(f"the {what} did not stop within {timeout:.0f} s")
