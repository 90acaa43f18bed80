"""The transformer services as a child process of `lwt serve --services` (or a test).

KServe runs its own event loop and signal handling, so the services get a process of
their own (`lwt services ...`), started after Triton is ready and stopped with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from transformers_svc.processes import stop_group, wait_ready
from transformers_svc.triton.server import ServerError, port_in_use


class ServicesProcess:
    def __init__(self, repository: Path, port: int, predictor_host: str, mediawiki_url: str | None = None,
                 models: list[str] | None = None, protocol: str = "v2", log_path: Path | None = None,
                 mediawiki_timeout: float = 5.0) -> None:
        self.port = port
        self.log_path = log_path or Path(repository).parent / "services.log"
        self.command = [sys.executable, "-m", "transformers_svc.lwt", "services", "--repository", str(repository),
                        "--port", str(port), "--predictor-host", predictor_host, "--predictor-protocol", protocol,
                        "--mediawiki-timeout", str(mediawiki_timeout)]
        if mediawiki_url:
            self.command += ["--mediawiki-url", mediawiki_url]
        if models:
            self.command += ["--models", ",".join(models)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServicesProcess":
        if port_in_use(self.port):
            raise ServerError(f"services port {self.port} on 127.0.0.1 is already in use")
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(self.command, stdout=log_file, stderr=subprocess.STDOUT,
                                            start_new_session=True, env=dict(os.environ))
        state = wait_ready(self.process, f"{self.url}/v2/health/ready", timeout)
        if state == "ready":
            return self
        if state == "exited":
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise ServerError(f"the transformer services exited (log: {self.log_path}): " + " | ".join(tail))
        self.stop()
        raise ServerError(f"the transformer services were not ready after {timeout:.0f} s (log: {self.log_path})")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        stop_group(self.process, grace=15)
        self.process = None

    def __enter__(self) -> "ServicesProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
