"""A real single-node OpenStack Swift (Debian's packages) on 127.0.0.1, with the S3 API.

Used by tests and `make demo` as the model store; in production users point at their own
Swift. Swift runs on Debian's `/usr/bin/python3`, apart from the project venv, so the
rings are built by a short script run with that interpreter. Every server binds
127.0.0.1; storage is a plain folder; `tempauth` holds one test account whose S3
credentials are `test:tester` / `testing`.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from exporters.contract.errors import StoreError
from exporters.store.s3 import client, s3_errors
from lwt.stack.process import ManagedProcess, free_port, http_ok, port_in_use

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


class _SwiftProcess(ManagedProcess):
    """One Swift server (or memcached); readiness is the store's, checked on the proxy."""

    error = StoreError
    stop_grace = 10.0

    def __init__(self, name: str, command: list[str], log_path: Path, ports: dict[str, int]) -> None:
        super().__init__(log_path, ports)
        self.name = name
        self._command = command

    def command(self) -> list[str]:
        return self._command


class _Proxy(_SwiftProcess):
    def ready(self) -> bool:
        endpoint = f"http://127.0.0.1:{self.listens['S3/Swift proxy']}"
        if not http_ok(f"{endpoint}/healthcheck", timeout=1):
            return False
        try:
            with s3_errors("swift"):
                client(endpoint, ACCESS_KEY, SECRET_KEY, REGION, attempts=1).list_buckets()
        except StoreError:
            return False
        return True


class SwiftStore:
    """memcached + account/container/object servers + the proxy, started and stopped as one."""

    def __init__(self, folder: Path, port: int = 16080) -> None:
        self.folder = Path(folder).resolve()
        self.port = port
        self.processes: list[_SwiftProcess] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a client needs: the standard variables boto3, the AWS CLI and Triton read."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}

    def _configure(self) -> dict[str, int]:
        for tool in (SYSTEM_PYTHON, "/usr/bin/swift-proxy-server", "/usr/bin/memcached"):
            if not Path(tool).exists():
                raise StoreError(f"{tool} is missing: install Debian's swift, swift-proxy, swift-account, "
                                 "swift-container, swift-object and memcached (make setup does)")
        if port_in_use(self.port):
            raise StoreError(f"Swift: port {self.port} on 127.0.0.1 is already in use")
        ensure_swift_conf()
        (self.folder / "srv" / "d1").mkdir(parents=True, exist_ok=True)
        (self.folder / "logs").mkdir(exist_ok=True)
        ports = {kind: free_port() for kind in (*SERVERS, "memcached")}
        rings = subprocess.run([SYSTEM_PYTHON, "-c", _RINGS, str(self.folder), *(str(ports[k]) for k in SERVERS)],
                               capture_output=True, text=True)
        if rings.returncode != 0:
            raise StoreError(f"building Swift rings failed: {rings.stderr.strip().splitlines()[-1]}")
        for kind in SERVERS:
            (self.folder / f"{kind}-server.conf").write_text(_server_conf(self.folder, kind, ports[kind]))
        (self.folder / "proxy-server.conf").write_text(_proxy_conf(self.folder, self.port, ports["memcached"]))
        return ports

    def start(self, timeout: float = 60.0) -> "SwiftStore":
        ports = self._configure()
        logs = self.folder / "logs"
        self.processes = [_SwiftProcess("memcached", ["/usr/bin/memcached", "-l", "127.0.0.1", "-p",
                                                      str(ports["memcached"]), "-U", "0", "-u", "root"],
                                        logs / "memcached.log", {"memcached": ports["memcached"]})]
        self.processes += [_SwiftProcess(f"swift-{kind}-server", [f"/usr/bin/swift-{kind}-server",
                                                                  str(self.folder / f"{kind}-server.conf"), "-v"],
                                         logs / f"{kind}.log", {kind: ports[kind]}) for kind in SERVERS]
        self.processes.append(_Proxy("swift-proxy-server", ["/usr/bin/swift-proxy-server",
                                                            str(self.folder / "proxy-server.conf"), "-v"],
                                     logs / "proxy.log", {"S3/Swift proxy": self.port}))
        try:
            for process in self.processes:
                process.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return bool(self.processes) and all(p.alive() for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> "SwiftStore":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
