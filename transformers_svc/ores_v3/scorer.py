"""Many models x many revisions of one wiki, in one pass.

The cache is asked first, once, for every (model, revision) pair. What it lacks is fetched
from MediaWiki once for the batch (revisions, parents, users: `WikiSolver`, two API calls
whatever the number of models) and solved once per revision over the union of the
missing models' feature lists (a datasource two models share is computed once). Each
model then gets one batched Triton call, the models concurrently, and the answers go back
into the cache. Every step reuses the model's own v1 service (`RevscoringService`): its
features, tensors, output split and ORES entry, so a v3 score is the v1 score.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from exporters.contract.events import fields
from transformers_svc.base import Row
from transformers_svc.cache import ScoreCache, ScoreKey
from transformers_svc.codecs import ores
from transformers_svc.errors import ServiceError
from transformers_svc.metrics import ERRORS, REQUESTS, stage
from transformers_svc.revscoring_svc.service import RevscoringService

log = logging.getLogger("lwt.services")
Entry = dict[str, Any]  # an ORES entry: {"score": ...[, "features": ...]} or {"error": ...}


@dataclass
class Scored:
    """One v3 request's answers: `entries[rev_id][model]`, in request order."""

    entries: dict[int, dict[str, Entry]]
    cached: int = 0
    computed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    failures: list[ServiceError] = field(default_factory=list)  # MediaWiki or Triton, not a revision's

    def all_failed(self) -> ServiceError | None:
        """The error to answer with when not one pair has a score because MediaWiki or
        Triton failed (a 5xx, as v1 answers); None when anything was answered."""
        scored = any("score" in e for by_model in self.entries.values() for e in by_model.values())
        return self.failures[0] if self.failures and not scored else None


class ContextScorer:
    """The revscoring models of one wiki (ORES' "context"), by their ORES name."""

    def __init__(self, wiki: str, models: Mapping[str, RevscoringService]) -> None:
        if not models:
            raise ValueError(f"no revscoring models for {wiki}")
        self.wiki = wiki
        self.models = dict(models)
        first = next(iter(self.models.values()))
        self.solver = first.solver  # one per wiki (`server.Context`): the same object for every model
        self.cache: ScoreCache = first.cache

    async def score(self, rev_ids: Sequence[int], names: Sequence[str], features: bool) -> Scored:
        start = time.perf_counter()
        services = [self.models[n] for n in names]
        for service in services:
            REQUESTS.labels(service.name, "v3").inc()
        keys = {(s.model_key, r): s.cache_key(r, features) for s in services for r in rev_ids}
        hits = await self.cache.get_many(list(keys.values()))
        result = Scored({r: {} for r in rev_ids})
        missing: dict[str, list[int]] = {}
        for (model, rev_id), key in keys.items():
            if key in hits:
                result.entries[rev_id][model] = hits[key]
                result.cached += 1
            else:
                missing.setdefault(model, []).append(rev_id)
        if missing:
            await self._compute(missing, features, result)
        self._order(result, names)
        result.timings["total_ms"] = round((time.perf_counter() - start) * 1000, 3)
        log.info("ores v3 scored", extra=fields(wiki=self.wiki, models=list(names), revisions=len(rev_ids),
                                                 cached=result.cached, computed=result.computed,
                                                 errors=sum("error" in e for m in result.entries.values()
                                                            for e in m.values()), **result.timings))
        return result

    async def _compute(self, missing: dict[str, list[int]], features: bool, result: Scored) -> None:
        needed = [self.models[m] for m in missing]
        revisions = list(dict.fromkeys(r for revs in missing.values() for r in revs))
        label = f"{self.wiki}:ores-v3"
        try:
            solved = await self.solver.solve(revisions, [s.features for s in needed], result.timings, label)
        except ServiceError as exc:  # MediaWiki down or too slow: every missing pair fails alike
            for model, revs in missing.items():
                for rev_id in revs:
                    result.entries[rev_id][model] = ores.error_entry(exc)
            ERRORS.labels(label, exc.kind).inc()
            result.failures.append(exc)
            return
        answers = await asyncio.gather(*(self._predict(i, s, missing[s.model_key], solved, features, result.timings)
                                         for i, s in enumerate(needed)))
        stored: dict[ScoreKey, Entry] = {}
        lasting: dict[ScoreKey, Entry] = {}
        for service, (by_rev, failure) in zip(needed, answers):
            if failure is not None:
                result.failures.append(failure)
            for rev_id, (entry, error) in by_rev.items():
                result.entries[rev_id][service.model_key] = entry
                if error is None:
                    stored[service.cache_key(rev_id, features)] = entry
                    result.computed += 1
                else:
                    ERRORS.labels(service.name, error.kind).inc()
                    if ScoreCache.lasting(error):
                        lasting[service.cache_key(rev_id, features)] = entry
        await self.cache.put_many(stored, lasting)

    async def _predict(self, index: int, service: RevscoringService, revs: list[int],
                       solved: Mapping[int, Any], features: bool,
                       timings: dict[str, float]) -> tuple[dict[int, tuple[Entry, ServiceError | None]],
                                                           ServiceError | None]:
        """One Triton call for this model's missing revisions; an error in place for the
        rest. Also returns Triton's failure, if any."""
        out: dict[int, tuple[Entry, ServiceError | None]] = {}
        rows: list[Row[int]] = []
        for rev_id in revs:
            value = solved[rev_id]
            if isinstance(value, ServiceError):
                out[rev_id] = (ores.error_entry(value), value)
            else:
                rows.append(Row(rev_id, value=value[index]))
        if not rows:
            return out, None
        took: dict[str, float] = {}
        try:
            with stage(service.name, "predict", took):
                response = await service.infer(service.inputs([r.value for r in rows]))
        except ServiceError as exc:  # Triton refused or is down: this model's scores fail, the others stand
            for row in rows:
                out[row.key] = (ores.error_entry(exc), exc)
            return out, exc
        timings[f"predict_ms.{service.model_key}"] = took["predict_ms"]
        for row, output in zip(rows, service.split(response, len(rows))):
            row.output = output
            out[row.key] = (service.entry(row, features), None)
        return out, None

    @staticmethod
    def _order(result: Scored, names: Sequence[str]) -> None:
        for rev_id, by_model in result.entries.items():
            result.entries[rev_id] = {n: by_model[n] for n in names if n in by_model}
