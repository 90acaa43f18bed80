"""The transformer services as a child process of `lwt serve --services` (or a test).

KServe runs its own event loop and signal handling, so the services get a process of
their own (`lwt services ...`), started after Triton is ready and stopped with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lwt.stack.process import ManagedProcess, http_ok


class ServicesProcess(ManagedProcess):
    name = "the transformer services"
    start_timeout = 90.0
    stop_grace = 15.0

    def __init__(self, repository: Path, port: int, predictor_host: str, mediawiki_url: str | None = None,
                 models: list[str] | None = None, protocol: str = "v2", log_path: Path | None = None,
                 options: dict[str, str] | None = None) -> None:
        super().__init__(log_path or Path(repository).parent / "services.log", {"services": port})
        self.port = port
        self.arguments = ["--repository", str(repository), "--port", str(port), "--predictor-host", predictor_host,
                          "--predictor-protocol", protocol]
        if mediawiki_url:
            self.arguments += ["--mediawiki-url", mediawiki_url]
        if models:
            self.arguments += ["--models", ",".join(models)]
        for flag, value in (options or {}).items():
            self.arguments += [f"--{flag}", str(value)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lwt", "--log-level", "INFO", "services", *self.arguments]

    def ready(self) -> bool:
        return http_ok(f"{self.url}/v2/health/ready")
