"""Server CPU and RSS during a scenario: every process of the server's tree, sampled."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Usage:
    cpu_percent: float  # of one core; 200 = both cores of this machine
    max_rss_mb: float


class ResourceMonitor:
    """Samples a process and its children every `interval` s until stopped."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self._stop = threading.Event()
        self._cpu_start = 0.0
        self._max_rss = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _cpu(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = 0
            for proc in self._tree():
                try:
                    rss += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self._max_rss = max(self._max_rss, rss)

    def __enter__(self) -> "ResourceMonitor":
        self._cpu_start, self._t0 = self._cpu(), time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        self.usage = Usage(cpu_percent=round(100 * (self._cpu() - self._cpu_start) / elapsed, 1),
                           max_rss_mb=round(self._max_rss / 2**20, 1))
