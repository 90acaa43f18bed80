"""Decoding steps of all concurrent requests as one Triton call per step (continuous batching).

Why: a beam-search request is ~20 decoder steps of num_beams rows; a step of 16 rows costs
far less than 8 steps of 2 rows, because a step mostly reads the weights (the lm_head over
the vocabulary above all). So one loop runs every step for every row of every active
request in one call to the generator entry; requests join between steps (encoded once, on
admission), leave the moment they finish (answered in that step), and a request whose
client went away (its task cancelled) frees its rows at the next step boundary.

Limits: at most `max_rows` sequences (beams) decode at once; further requests wait FIFO,
at most `max_queue` of them and at most `queue_timeout` seconds each; beyond: `Overloaded`
(503). Each request's search (exporters.seq2seq.search) sees only its own rows and says
which of its cache rows to keep (`parents`, applied by the generator in the next step).
A request's tokens do not depend on its batch-mates: the generator presents every attended
axis at multiples of 32 positions (see exporters/seq2seq/triton_model.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from exporters.contract.events import fields
from exporters.seq2seq.search import Candidates, Result, Search, Settings, new_search
from transformers_svc.descriptions_svc.steps import StepAnswer, StepRows
from transformers_svc.errors import ServiceError

log = logging.getLogger("lwt.services")


class Overloaded(ServiceError):
    """Too many requests waiting for rows: shed load instead of queueing without bound."""

    status, kind = 503, "Overloaded"


class BatcherClosed(ServiceError):
    status, kind = 503, "ShuttingDown"


class Generator(Protocol):
    """The generator entry's three operations (generator.TritonGenerator)."""

    active_rows: int

    async def admit(self, sources: Sequence[Sequence[int]], beams: Sequence[int], pad_id: int,
                    release: Sequence[int] = ()) -> list[int]: ...
    async def step(self, rows: StepRows, release: Sequence[int] = ()) -> StepAnswer: ...
    async def release(self, handles: Sequence[int]) -> None: ...


@dataclass(eq=False)
class _Request:
    source: list[int]
    settings: Settings
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)
    search: Search | None = None
    handle: int | None = None
    admitted: float = 0.0
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    trace: list[Candidates] | None = None  # each step's candidates (tests)


@dataclass
class Stats:
    steps: int = 0
    admitted: int = 0
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    rejected: int = 0
    rows_per_step: deque = field(default_factory=lambda: deque(maxlen=10_000))


class Batcher:
    def __init__(self, generator: Generator, vocab_size: int, pad_id: int, max_rows: int, max_queue: int,
                 queue_timeout: float, encode_batch: int = 8) -> None:
        self.generator, self.vocab, self.pad_id = generator, vocab_size, pad_id
        self.max_rows, self.max_queue, self.queue_timeout = max_rows, max_queue, queue_timeout
        self.encode_batch = encode_batch
        self.waiting: deque[_Request] = deque()
        self.active: list[_Request] = []
        self.to_release: list[int] = []
        self.stats = Stats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closed = False

    @property
    def rows(self) -> int:
        return sum(r.search.rows for r in self.active if r.search is not None)

    # --- public --------------------------------------------------------------------------------
    async def generate(self, source: Sequence[int], settings: Settings, timings: dict[str, Any] | None = None,
                       trace: list[Candidates] | None = None) -> Result:
        """Generate for one source. Cancelling the awaiting task frees its rows."""
        if self._closed:
            raise BatcherClosed("the service is shutting down")
        if settings.num_beams > self.max_rows:
            raise ValueError(f"num_beams {settings.num_beams} > max_rows {self.max_rows}")
        if len(self.waiting) >= self.max_queue:
            self.stats.rejected += 1
            raise Overloaded(f"{len(self.waiting)} requests are waiting for generation rows; try again later")
        request = _Request(list(source), settings, asyncio.get_running_loop().create_future(), trace=trace)
        self.waiting.append(request)
        self._ensure_running()
        self._wake.set()
        try:
            return await asyncio.shield(request.future)
        except asyncio.CancelledError:
            request.cancelled = True  # the loop frees its rows at the next step boundary
            self._wake.set()
            raise
        finally:
            if timings is not None:
                timings.update(request.timings, steps=request.steps)

    async def close(self) -> None:
        """Stop the loop; requests still waiting or decoding fail with BatcherClosed."""
        self._closed = True
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for request in [*self.active, *self.waiting]:
            _fail(request, BatcherClosed("the service is shutting down"))
        handles = [r.handle for r in self.active if r.handle is not None] + self.to_release
        self.active, self.waiting, self.to_release = [], deque(), []
        if handles:
            try:
                await self.generator.release(handles)
            except Exception:  # noqa: BLE001 - best effort: the generator expires idle handles itself
                pass

    # --- the loop --------------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self._drop_cancelled()
                await self._admit()
                self._expire()  # those still waiting after an admission
                if self.active:
                    await self._step()
                    continue
                if self.to_release:
                    handles, self.to_release = self.to_release, []
                    await self.generator.release(handles)
                self._wake.clear()
                if not self.waiting:
                    await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug here must never leave clients waiting
                log.error("generation loop failed", exc_info=exc, extra=fields(active=len(self.active)))
                for request in [*self.active, *self.waiting]:
                    _fail(request, exc if isinstance(exc, ServiceError) else ServiceError(f"generation failed: {exc}"))
                self.to_release += [r.handle for r in self.active if r.handle is not None]
                self.active, self.waiting = [], deque()

    def _drop_cancelled(self) -> None:
        for request in [r for r in self.waiting if r.cancelled]:
            self.waiting.remove(request)
            self.stats.cancelled += 1
        for request in [r for r in self.active if r.cancelled]:
            self.active.remove(request)
            self.to_release.append(request.handle)
            self.stats.cancelled += 1
            log.info("generation cancelled", extra=fields(steps=request.steps, rows=request.settings.num_beams))

    def _expire(self) -> None:
        now = time.monotonic()
        while self.waiting and now - self.waiting[0].enqueued > self.queue_timeout:
            request = self.waiting.popleft()
            self.stats.rejected += 1
            _fail(request, Overloaded(f"no generation rows free within {self.queue_timeout:g} s; try again later"))

    async def _admit(self) -> None:
        """FIFO: admit waiting requests while their beams fit, encode them, add their rows."""
        batch: list[_Request] = []
        free = self.max_rows - self.rows
        while self.waiting and self.waiting[0].settings.num_beams <= free:
            request = self.waiting.popleft()
            batch.append(request)
            free -= request.settings.num_beams
        groups = [batch[i: i + self.encode_batch] for i in range(0, len(batch), self.encode_batch)]
        while groups:
            group = groups.pop(0)
            start = time.monotonic()
            release, self.to_release = self.to_release, []
            try:
                handles = await self.generator.admit([r.source for r in group], [r.settings.num_beams for r in group],
                                                     self.pad_id, release)
            except Exception as exc:  # noqa: BLE001 - reported to the requests it concerns
                self.to_release = release + self.to_release  # not sent: try again with the next call
                if len(group) > 1:  # isolate the bad request: one by one
                    groups = [[r] for r in group] + groups
                else:
                    self.stats.failed += 1
                    _fail(group[0], exc if isinstance(exc, ServiceError) else ServiceError(f"admission failed: {exc}"))
                continue
            elapsed = time.monotonic() - start
            for request, handle in zip(group, handles):
                request.handle = handle
                request.timings["queue_ms"] = round((start - request.enqueued) * 1000, 3)
                request.timings["encode_ms"] = round(elapsed * 1000, 3)
                request.admitted = time.monotonic()
                if request.cancelled:
                    self.to_release.append(handle)
                    self.stats.cancelled += 1
                    continue
                request.search = new_search(request.settings, self.vocab)
                self.active.append(request)
                self.stats.admitted += 1

    def _rows(self) -> StepRows:
        handles, beams, parents, tokens, positions, needed = [], [], [], [], [], 1
        for r in self.active:
            search = r.search
            assert search is not None and r.handle is not None
            handles.append(np.full(search.rows, r.handle, np.int64))
            beams.append(np.arange(search.rows, dtype=np.int64))
            parents.append(search.parents())
            tokens.append(search.tokens())
            positions.append(np.full(search.rows, search.position(), np.int64))
            needed = max(needed, search.needed())
        return StepRows(*(np.concatenate(a).astype(np.int64) for a in (handles, beams, parents, tokens, positions)),
                        top_k=needed)

    async def _step(self) -> None:
        rows = self._rows()
        release, self.to_release = self.to_release, []
        try:
            answer = await self.generator.step(rows, release)
        except Exception as exc:  # noqa: BLE001 - the step failed for every active request
            self.to_release = release + self.to_release + [r.handle for r in self.active if r.handle is not None]
            for request in self.active:
                self.stats.failed += 1
                _fail(request, exc if isinstance(exc, ServiceError) else ServiceError(f"decoding failed: {exc}"))
            self.active = []
            return
        self.stats.steps += 1
        self.stats.rows_per_step.append(len(rows.handle))
        start, finished = 0, []
        for request in self.active:
            search = request.search
            assert search is not None
            mine = answer.rows(start, search.rows)
            start += search.rows
            if request.trace is not None:
                request.trace.append(mine)
            search.advance(mine)
            request.steps += 1
            if search.done:
                request.timings["decode_ms"] = round((time.monotonic() - request.admitted) * 1000, 3)
                if not request.future.done():
                    request.future.set_result(search.result())  # answered at once
                self.stats.completed += 1
                finished.append(request)
        for request in finished:
            self.active.remove(request)
            self.to_release.append(request.handle)


def _fail(request: _Request, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
        if request.cancelled:  # nobody awaits it: retrieve, so asyncio does not warn
            request.future.exception()
