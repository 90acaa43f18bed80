"""Run the real `tritonserver` from the `nvidia-pytriton` wheel, on loopback only.

The wheel ships Triton 2.51 with only the Python backend. We assemble a backend
directory holding that backend plus our Python-based `onnxruntime` and `pytorch`
backends, and start the binary with all three endpoints bound to 127.0.0.1.

Locked down: the administrative APIs (shared memory, model repository, trace, logging)
need a header whose value is a key generated per run and written to the workdir with mode
0600 (`admin_headers`); health, metadata, statistics and inference stay open. The Python
backend's shared-memory regions get a per-run prefix, so the regions of a Triton that
died can be found and removed (`remove_shm_regions`).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from exporters.contract.layout import CONFIG
from lwt.stack.process import ManagedProcess, ServerError, http_ok

BACKENDS_SOURCE = Path(__file__).parent / "backends"
OUR_BACKENDS = ("onnxruntime", "pytorch")
SHM_ROOT = Path("/dev/shm")
ADMIN_HEADER = "lwt-admin-key"
RESTRICTED_HTTP = ("shared-memory", "model-repository", "trace", "logging")
RESTRICTED_GRPC = ("shared-memory", "model-repository", "trace", "logging")


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


def check_repository(repository: Path) -> None:
    if not repository.is_dir():
        raise ServerError(f"model repository {repository} does not exist")
    if not any(p.is_dir() and (p / CONFIG).is_file() for p in repository.iterdir()):
        raise ServerError(f"model repository {repository} holds no model (no NAME/{CONFIG})")


def _failure_lines(log_path: Path, limit: int = 6) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    wanted = [l for l in lines if "failed to load" in l or l.startswith("E") or "error:" in l.lower()]
    return "\n".join((wanted or lines)[-limit:])


class TritonServer(ManagedProcess):
    """One tritonserver process (and its backend stubs, in its process group)."""

    name = "tritonserver"
    start_timeout = 180.0
    stop_grace = 15.0

    def __init__(self, repository: Path | str, ports: Ports = Ports(), workdir: Path | None = None,
                 model_control_mode: str = "none", extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="lwt-triton-")).resolve()
        super().__init__(self.workdir / "tritonserver.log",
                         {"http": ports.http, "grpc": ports.grpc, "metrics": ports.metrics})
        # `s3://http://host:port/bucket/prefix` is handed to Triton's own S3 loader as is.
        self.repository = str(repository) if str(repository).startswith("s3://") else Path(repository).resolve()
        self.ports = ports
        self.model_control_mode = model_control_mode
        self.extra_args = extra_args
        self.admin_key = secrets.token_urlsafe(24)
        # Triton 25.07+ refuses client registrations of regions named triton_*: keep that prefix.
        self.shm_prefix = f"triton_lwt_{secrets.token_hex(6)}_"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def admin_headers(self) -> dict[str, str]:
        """What an operator sends to use the restricted HTTP APIs (e.g. a model load)."""
        return {ADMIN_HEADER: self.admin_key}

    @property
    def admin_grpc_metadata(self) -> dict[str, str]:
        """The same over gRPC: Triton reads it as `triton-grpc-protocol-<key>` metadata."""
        return {f"triton-grpc-protocol-{ADMIN_HEADER}": self.admin_key}

    @property
    def admin_key_file(self) -> Path:
        return self.workdir / "admin-key"

    def prepare(self) -> None:
        if isinstance(self.repository, Path):
            check_repository(self.repository)
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.admin_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.admin_key + "\n")
        self.backends = assemble_backends(self.workdir / "backends")

    def command(self) -> list[str]:
        binary = pytriton_root() / "tritonserver" / "bin" / "tritonserver"
        key = f"{ADMIN_HEADER}={self.admin_key}"
        return [
            str(binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.backends}",
            f"--model-control-mode={self.model_control_mode}",
            "--http-address=127.0.0.1", f"--http-port={self.ports.http}",
            "--grpc-address=127.0.0.1", f"--grpc-port={self.ports.grpc}",
            "--metrics-address=127.0.0.1", f"--metrics-port={self.ports.metrics}",
            f"--http-restricted-api={','.join(RESTRICTED_HTTP)}:{key}",
            f"--grpc-restricted-protocol={','.join(RESTRICTED_GRPC)}:{key}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--disable-auto-complete-config",  # our configs are complete; ready in a third of the time
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--log-verbose=0",
            "--exit-timeout-secs=5",
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        """The stub embeds Debian's libpython and finds packages through the venv on PATH."""
        env = dict(os.environ)
        libs = pytriton_root().parent / "nvidia_pytriton.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        env.setdefault("VIRTUAL_ENV", sys.prefix)
        return env

    def ready(self) -> bool:
        return http_ok(f"http://{self.http_url}/v2/health/ready")

    def failure_details(self) -> str:
        details = _failure_lines(self.log_path)
        return f"\n{details}" if details else ""

    def remove_shm_regions(self) -> list[Path]:
        """The shared-memory regions this Triton's stubs created (after it died)."""
        removed = []
        for path in SHM_ROOT.glob(f"{self.shm_prefix}*"):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def stop(self, grace: float | None = None) -> None:
        super().stop(grace)
        self.remove_shm_regions()
