"""A real Redis (Debian's `redis-server`) on 127.0.0.1: the score cache replicas share.

Started in the foreground by `lwt cache up`, and by tests and benchmarks; in production
users point `--cache redis://HOST:PORT/DB` at their own. Nothing is written to disk
(`--save ""`, no append-only file): a score cache is rebuilt by scoring. Memory is capped
and the least recently used keys go first when it is full, as a cache should behave.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis
from redis.exceptions import RedisError

from lwt.stack.process import ManagedProcess, ServerError

REDIS_SERVER = "/usr/bin/redis-server"


class CacheError(ServerError):
    """The local Redis could not be started or reached."""

    kind = "CacheError"


class RedisServer(ManagedProcess):
    name = "the local Redis"
    error = CacheError
    start_timeout = 20.0
    stop_grace = 5.0

    def __init__(self, folder: Path, port: int, max_memory: str = "256mb") -> None:
        self.folder = Path(folder).resolve()
        super().__init__(self.folder / "redis.log", {"redis": port})
        self.port = port
        self.max_memory = max_memory

    @property
    def url(self) -> str:
        """What `--cache` takes (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def prepare(self) -> None:
        if shutil.which(REDIS_SERVER) is None:
            raise CacheError(f"{REDIS_SERVER} is missing: install Debian's redis-server (make setup does)")
        self.folder.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                "--maxmemory", self.max_memory, "--maxmemory-policy", "allkeys-lru", "--loglevel", "notice"]

    def ready(self) -> bool:
        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
                return bool(client.ping())
        except (RedisError, OSError):
            return False
