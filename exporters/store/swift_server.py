"""A real single-node OpenStack Swift (Debian's packages) on 127.0.0.1, with the S3 API.

Used by tests and `make demo` as the model store; in production users point at their own
Swift. Swift runs on Debian's `/usr/bin/python3`, apart from the project venv, so the
rings are built by a short script run with that interpreter. Every server binds
127.0.0.1; storage is a plain folder; `tempauth` holds one test account whose S3
credentials are `test:tester` / `testing`.
"""

from __future__ import annotations

import logging
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from exporters.errors import StoreError
from transformers_svc.processes import stop_group
from transformers_svc.triton.server import free_port, port_in_use

log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
SWIFT_CONF = Path("/etc/swift/swift.conf")  # Swift reads its hash suffix only from here
ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"
REGION = "us-east-1"
SERVERS = ("account", "container", "object")

_RINGS = textwrap.dedent(
    """
    import sys
    from swift.common.ring import RingBuilder
    folder = sys.argv[1]
    for kind, port in zip(("account", "container", "object"), sys.argv[2:5]):
        builder = RingBuilder(4, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": int(port), "device": "d1", "weight": 1})
        builder.rebalance()
        builder.save(f"{folder}/{kind}.builder")
        builder.get_ring().save(f"{folder}/{kind}.ring.gz")
    """
)

_PROXY_FILTERS = {
    "catch_errors": "catch_errors", "gatekeeper": "gatekeeper", "healthcheck": "healthcheck",
    "proxy-logging": "proxy_logging", "listing_formats": "listing_formats", "copy": "copy",
    "slo": "slo", "dlo": "dlo", "versioned_writes": "versioned_writes",
}


def _server_conf(folder: Path, kind: str, port: int) -> str:
    return textwrap.dedent(
        f"""
        [DEFAULT]
        bind_ip = 127.0.0.1
        bind_port = {port}
        devices = {folder / 'srv'}
        mount_check = false
        swift_dir = {folder}
        workers = 1
        user = root
        log_level = WARNING

        [pipeline:main]
        pipeline = {kind}-server

        [app:{kind}-server]
        use = egg:swift#{kind}
        """
    )


def _proxy_conf(folder: Path, port: int, memcached: int) -> str:
    filters = "".join(f"\n[filter:{name}]\nuse = egg:swift#{egg}\n" for name, egg in _PROXY_FILTERS.items())
    return textwrap.dedent(
        f"""
        [DEFAULT]
        bind_ip = 127.0.0.1
        bind_port = {port}
        swift_dir = {folder}
        workers = 1
        user = root
        log_level = WARNING

        [pipeline:main]
        pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

        [app:proxy-server]
        use = egg:swift#proxy
        account_autocreate = true

        [filter:tempauth]
        use = egg:swift#tempauth
        user_test_tester = {SECRET_KEY} .admin

        [filter:s3api]
        use = egg:swift#s3api
        location = {REGION}

        [filter:cache]
        use = egg:swift#memcache
        memcache_servers = 127.0.0.1:{memcached}
        """
    ) + filters


def ensure_swift_conf() -> None:
    if SWIFT_CONF.is_file() and "swift_hash_path_suffix" in SWIFT_CONF.read_text():
        return
    try:
        SWIFT_CONF.parent.mkdir(parents=True, exist_ok=True)
        SWIFT_CONF.write_text("[swift-hash]\nswift_hash_path_suffix = liftwing-triton-local\n")
    except OSError as exc:
        raise StoreError(f"Swift needs {SWIFT_CONF} with a swift_hash_path_suffix and it cannot be written: {exc}") from exc


class SwiftStore:
    """memcached + account/container/object servers + the proxy, as one unit."""

    def __init__(self, folder: Path, port: int = 16080) -> None:
        self.folder = Path(folder).resolve()
        self.port = port
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a client needs: the standard variables boto3, the AWS CLI and Triton read."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}

    def _spawn(self, name: str, command: list[str]) -> None:
        log_file = open(self.folder / "logs" / f"{name}.log", "ab")
        self.processes.append(subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def start(self, timeout: float = 60.0) -> "SwiftStore":
        for tool in (SYSTEM_PYTHON, "/usr/bin/swift-proxy-server", "/usr/bin/memcached"):
            if not Path(tool).exists():
                raise StoreError(f"{tool} is missing: install Debian's swift, swift-proxy, swift-account, "
                                 "swift-container, swift-object and memcached (make setup does)")
        if port_in_use(self.port):
            raise StoreError(f"port {self.port} on 127.0.0.1 is already in use")
        ensure_swift_conf()
        (self.folder / "srv" / "d1").mkdir(parents=True, exist_ok=True)
        (self.folder / "logs").mkdir(exist_ok=True)
        ports = {kind: free_port() for kind in SERVERS}
        memcached = free_port()
        rings = subprocess.run([SYSTEM_PYTHON, "-c", _RINGS, str(self.folder), *map(str, ports.values())],
                               capture_output=True, text=True)
        if rings.returncode != 0:
            raise StoreError(f"building Swift rings failed: {rings.stderr.strip().splitlines()[-1]}")
        for kind, port in ports.items():
            (self.folder / f"{kind}-server.conf").write_text(_server_conf(self.folder, kind, port))
        (self.folder / "proxy-server.conf").write_text(_proxy_conf(self.folder, self.port, memcached))
        self._spawn("memcached", ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(memcached), "-U", "0", "-u", "root"])
        for kind in (*SERVERS, "proxy"):
            self._spawn(kind, [f"/usr/bin/swift-{kind}-server", str(self.folder / f"{kind}-server.conf"), "-v"])
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from exporters.store.s3 import client

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                self.stop()
                raise StoreError(f"a Swift process exited at start; see {self.folder / 'logs'}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthcheck", timeout=1):
                    pass
                client(self.endpoint, ACCESS_KEY, SECRET_KEY, REGION, attempts=1).list_buckets()
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet; retried until the deadline
                last = str(exc)
                time.sleep(0.2)
        self.stop()
        raise StoreError(f"Swift not ready after {timeout:.0f} s ({last}); logs in {self.folder / 'logs'}")

    def stop(self, grace: float = 10.0) -> None:
        for process in self.processes:
            stop_group(process, grace)
        self.processes.clear()

    def __enter__(self) -> "SwiftStore":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/healthcheck", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False
