"""A KServe transformer for one revscoring model: request -> features -> Triton -> ORES format.

Inputs, as Lift Wing accepts them: `{"rev_id": N}`, `{"rev_id": N, "extended_output": true}`
(adds the feature values), `{"rev_ids": [...]}` (up to the limit, one batched Triton call),
`{"event": <a mediawiki.page_change or mediawiki.revision-create event>}`; on the v2 route
an INT64 tensor `rev_id` (`codecs.v2`). The features are the model's own (its version
folder carries them) and are solved by the wiki's shared `WikiSolver`; answers go through
the score cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest

from exporters.contract.card import ModelCard
from exporters.contract.revscoring_features import load_features
from transformers_svc.base import Job, Row, RowService, float_tensor, int64_tensor, positive_int, require_object
from transformers_svc.cache import ScoreCache, ScoreKey
from transformers_svc.codecs import ores, v2
from transformers_svc.errors import BadRequest, ServiceError, from_entry
from transformers_svc.events import parse_change
from transformers_svc.predictor import Predictor
from transformers_svc.revscoring_svc import quality
from transformers_svc.revscoring_svc.solve import WikiSolver
from transformers_svc.revscoring_svc.word_vectors import WORD_IDS, WordVectorInputs, solve_names
from transformers_svc.settings import MEDIAWIKI_MAX_REV_ID, ServiceSettings


class RevscoringService(RowService[int]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, labels: list[str], solver: WikiSolver,
                 cache: ScoreCache, settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        self.card = card
        self.labels = labels or card.labels
        self.multilabel = card.multilabel
        self.wiki_db = solver.wiki
        self.model_key = name[len(self.wiki_db) + 1:] if name.startswith(f"{self.wiki_db}-") else name
        self.version = card.model_version
        self.feature_names = list(card.features)
        self.features = load_features(version_dir, solve_names(card))
        self.vectors = WordVectorInputs(card.word_vectors, version_dir) if card.word_vectors else None
        self.weights = None if self.multilabel else quality.weights_for(self.labels)
        self.solver = solver
        self.cache = cache

    # --- parsing --------------------------------------------------------------------------
    def parse(self, body: Any) -> Job[int]:
        limit = self.settings.max_revisions
        if isinstance(body, InferRequest):
            return Job([Row(r) for r in v2.rev_ids(body, limit)], form="v2")
        body = require_object(body, '{"rev_id": N}, {"rev_ids": [N, ...]} or {"event": {...}}')
        extended = body.get("extended_output", False)
        if not isinstance(extended, bool):
            raise BadRequest("extended_output must be true or false")
        if "event" in body:
            change = parse_change(body["event"])
            if change.wiki != self.wiki_db:
                raise BadRequest(f"the event is of {change.wiki}; {self.name} scores {self.wiki_db}")
            return Job([Row(change.rev_id)], form="single", extended=extended)
        if "rev_ids" in body:
            ids = body["rev_ids"]
            if not isinstance(ids, list) or not ids:
                raise BadRequest("rev_ids must be a non-empty list of revision ids")
            if len(ids) > limit:
                raise BadRequest(f"at most {limit} revisions per request, got {len(ids)}")
            return Job([Row(positive_int(i, "rev_ids[]", MEDIAWIKI_MAX_REV_ID)) for i in ids], form="batch",
                       extended=extended)
        if "rev_id" in body:
            return Job([Row(positive_int(body["rev_id"], "rev_id", MEDIAWIKI_MAX_REV_ID))], form="single",
                       extended=extended)
        raise BadRequest('expected {"rev_id": N}, {"rev_ids": [N, ...]} or {"event": {...}}')

    # --- cache ----------------------------------------------------------------------------
    def cache_key(self, rev_id: int, extended: bool) -> ScoreKey:
        return ScoreKey(self.wiki_db, self.model_key, rev_id, self.version, extended)

    async def answered(self, job: Job[int]) -> None:
        """Rows the cache already holds an answer (or a lasting error) for."""
        if job.form == "v2":
            return
        hits = await self.cache.get_many([self.cache_key(k, job.extended) for k in job.distinct()])
        for row in job.rows:
            hit = hits.get(self.cache_key(row.key, job.extended))
            if hit is not None and "error" in hit:
                row.error = from_entry(hit)
                row.output = hit  # already cached: not stored again
            elif hit is not None:
                row.output = hit

    async def store(self, job: Job[int]) -> None:
        if job.form == "v2":
            return
        entries = {}
        for key in job.pending:
            row = next(r for r in job.rows if r.key == key)
            entries[self.cache_key(key, job.extended)] = self.entry(row, job.extended)
        errors = {self.cache_key(r.key, job.extended): ores.error_entry(r.error) for r in job.rows
                  if r.error is not None and r.output is None and ScoreCache.lasting(r.error)}
        await self.cache.put_many(entries, errors)

    # --- features and Triton ----------------------------------------------------------------
    async def prepare(self, keys: Sequence[int], job: Job[int]) -> Mapping[int, Any]:
        solved = await self.solver.solve(keys, [self.features], job.timings, self.name)
        return {k: v if isinstance(v, ServiceError) else v[0] for k, v in solved.items()}

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        if self.vectors is not None:  # word ids: the vectors' mean is computed in Triton
            ids, scalars = self.vectors.arrays(values)
            return [int64_tensor(WORD_IDS, ids)] + ([float_tensor("input", scalars)] if scalars.shape[1] else [])
        return [float_tensor("input", values)]

    def probabilities(self, output: Any) -> np.ndarray:
        return np.asarray(output, dtype=np.float64)

    # --- answers ----------------------------------------------------------------------------
    def entry(self, row: Row[int], extended: bool) -> dict[str, Any]:
        """The ORES entry of a scored row (a dict from the cache is already one)."""
        if isinstance(row.output, dict):
            return row.output
        entry: dict[str, Any] = {"score": ores.score(np.asarray(row.output), self.labels, self.multilabel)}
        if extended:
            values = self.vectors.feature_values(row.value) if self.vectors is not None else row.value
            entry["features"] = dict(zip(self.feature_names, ores.plain(values)))
            if self.weights is not None:  # articlequality's weighted sum
                entry["score"]["weighted_sum"] = quality.weighted_sum(entry["score"]["probability"], self.weights)
        return entry

    def respond(self, job: Job[int]) -> Any:
        if job.form == "v2":
            return v2.response(self.name, self.version, len(self.labels),
                               [None if isinstance(r.output, dict) or r.output is None else r.output for r in job.rows],
                               [r.error for r in job.rows])
        entries = {r.key: {self.model_key: ores.error_entry(r.error) if r.error else self.entry(r, job.extended)}
                   for r in job.rows}
        body = ores.response(self.wiki_db, {self.model_key: self.version}, entries)
        if job.form == "single":
            self.raise_when_all_failed(job, body)
        return body
