"""Run the real `tritonserver` from the `nvidia-pytriton` wheel, on loopback only.

The wheel ships Triton 2.51 with only the Python backend. We assemble a backend
directory holding that backend plus our Python-based `onnxruntime` and `pytorch`
backends, start the binary with all three endpoints bound to 127.0.0.1, and wait for
`/v2/health/ready`. Everything it starts lives in one process group, so `stop()` ends
Triton and every backend stub it spawned.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from transformers_svc.processes import stop_group, wait_ready

log = logging.getLogger(__name__)

BACKENDS_SOURCE = Path(__file__).parent / "backends"
OUR_BACKENDS = ("onnxruntime", "pytorch")


class ServerError(RuntimeError):
    """Triton could not be started; the message says why in one line (or a few)."""


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002


def pytriton_root() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("the nvidia-pytriton wheel is not installed (it carries tritonserver)")
    return Path(next(iter(spec.submodule_search_locations)))


def assemble_backends(target: Path) -> Path:
    """BACKENDS/python (the wheel's) + BACKENDS/{onnxruntime,pytorch}/model.py (ours)."""
    root = pytriton_root() / "tritonserver"
    python = target / "python"
    python.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(root / "backends" / "python" / name, python / name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise ServerError(f"nvidia-pytriton has no Python backend stub for Python {version}")
    shutil.copy2(stub, python / "triton_python_backend_stub")
    for backend in OUR_BACKENDS:
        (target / backend).mkdir(exist_ok=True)
        shutil.copy2(BACKENDS_SOURCE / backend / "model.py", target / backend / "model.py")
    return target


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_repository(repository: Path) -> None:
    if not repository.is_dir():
        raise ServerError(f"model repository {repository} does not exist")
    models = [p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not models:
        raise ServerError(f"model repository {repository} holds no model")


def _environment() -> dict[str, str]:
    """The stub embeds Debian's libpython and finds packages through the venv on PATH."""
    env = dict(os.environ)
    libs = pytriton_root().parent / "nvidia_pytriton.libs"
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env.setdefault("VIRTUAL_ENV", sys.prefix)
    return env


def _failure_lines(log_path: Path, limit: int = 6) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    wanted = [l for l in lines if "failed to load" in l or l.startswith("E") or "error:" in l.lower()]
    return "\n".join((wanted or lines)[-limit:])


class TritonServer:
    """One tritonserver process; a context manager for tests, `run_forever` for the CLI."""

    def __init__(
        self,
        repository: Path | str,
        ports: Ports = Ports(),
        workdir: Path | None = None,
        model_control_mode: str = "none",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        # `s3://http://host:port/bucket/prefix` is handed to Triton's own S3 loader as is.
        self.repository = str(repository) if str(repository).startswith("s3://") else Path(repository).resolve()
        self.ports = ports
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="lwt-triton-"))
        self.model_control_mode = model_control_mode
        self.extra_args = extra_args
        self.log_path = self.workdir / "tritonserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    def command(self, backends: Path) -> list[str]:
        binary = pytriton_root() / "tritonserver" / "bin" / "tritonserver"
        return [
            str(binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--model-control-mode={self.model_control_mode}",
            "--http-address=127.0.0.1",
            f"--http-port={self.ports.http}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.ports.grpc}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.ports.metrics}",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--log-verbose=0",
            "--exit-timeout-secs=5",
            *self.extra_args,
        ]

    def start(self, timeout: float = 180.0) -> "TritonServer":
        if isinstance(self.repository, Path):
            check_repository(self.repository)
        for label, port in (("http", self.ports.http), ("grpc", self.ports.grpc), ("metrics", self.ports.metrics)):
            if port_in_use(port):
                raise ServerError(f"{label} port {port} on 127.0.0.1 is already in use")
        backends = assemble_backends(self.workdir / "backends")
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command(backends),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=_environment(),
                start_new_session=True,  # its own process group: we stop stubs with it
            )
        log.info("tritonserver started", extra={"pid": self.process.pid, "log_file": str(self.log_path)})
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        state = wait_ready(self.process, f"http://{self.http_url}/v2/health/ready", timeout)
        if state == "ready":
            return
        details = _failure_lines(self.log_path)
        self.stop()
        if state == "exited":
            raise ServerError(f"tritonserver exited with code {self.process.returncode} before it was ready "
                              f"(log: {self.log_path})\n{details}")
        raise ServerError(f"tritonserver not ready after {timeout:.0f} s (log: {self.log_path})")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the whole process group (Triton and its backend stubs), then SIGKILL."""
        stop_group(self.process, grace)

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
