"""A KServe transformer in the shape of Lift Wing's revertrisk-language-agnostic.

In (`codecs.lang_revision`): `{"lang": "en", "rev_id": N}`, `{"instances": [...]}` (at most
20, one language) or `{"event": <a mediawiki.page_change event>}`. The batch's edits come
in at most three MediaWiki calls (`fetch`), their features from the same pure function
the model was trained with (`exporters.revertrisk.features`), then one batched Triton call.
Out (`codecs.output`): `{"model_name", "model_version", "wiki_db", "revision_id",
"output": {"prediction": bool, "probabilities": {"true", "false"}}}`, or
`{"predictions": [...]}` for instances, errors in place of the revisions they belong to.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from kserve.protocol.infer_type import InferInput

from exporters.contract.card import ModelCard
from exporters.contract.errors import FeatureMismatch
from exporters.revertrisk.features import FEATURE_NAMES, HiddenText, revision_features
from transformers_svc.base import Job, RowService, float_tensor
from transformers_svc.codecs import lang_revision, output
from transformers_svc.errors import ServiceError, TextDeleted
from transformers_svc.mediawiki.client import MediaWikiClient, deadline
from transformers_svc.metrics import stage
from transformers_svc.predictor import Predictor
from transformers_svc.revertrisk_svc.fetch import EditFetcher, Edits
from transformers_svc.settings import ServiceSettings

MAX_INSTANCES = 20  # Lift Wing's limit for revert-risk `instances`


def check_card(card: ModelCard, version_dir: Path) -> None:
    """The card must list exactly the features this service computes, in its order."""
    if list(card.features) != list(FEATURE_NAMES):
        differ = next((i for i, (a, b) in enumerate(zip(card.features, FEATURE_NAMES)) if a != b), None)
        detail = (f"feature {differ}: card {card.features[differ]!r}, service {FEATURE_NAMES[differ]!r}"
                  if differ is not None else f"the card lists {len(card.features)}, the service computes "
                                              f"{len(FEATURE_NAMES)}")
        raise FeatureMismatch(f"{version_dir}: the model card's features differ from the features "
                              f"revertrisk-language-agnostic computes ({detail})")
    widths = [t.shape[-1] for t in card.inputs if t.name == "input"]
    if widths != [len(FEATURE_NAMES)] or len(card.labels) != 2:
        raise FeatureMismatch(f"{version_dir}: a revert-risk model takes one input of {len(FEATURE_NAMES)} "
                              f"features and has two labels (card: inputs {widths}, labels {card.labels})")


class RevertRiskService(RowService[int]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, labels: list[str],
                 clients: Callable[[str], MediaWikiClient], settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        check_card(card, version_dir)
        self.labels = labels or card.labels
        self.version = card.model_version
        self.clients = clients
        self.fetcher = EditFetcher()

    def parse(self, body: Any) -> Job[int]:
        return lang_revision.revision_job(body, MAX_INSTANCES)

    async def prepare(self, keys: Sequence[int], job: Job[int]) -> Mapping[int, Any]:
        client = self.clients(job.context)
        with stage(self.name, "fetch", job.timings):
            async with deadline(self.settings.mediawiki_timeout, f"MediaWiki API at {client.api_url}"):
                edits = await self.fetcher.fetch(client, keys)
        job.timings["mediawiki_calls"] = edits.calls
        prepared: dict[int, Any] = dict(edits.errors)
        good = [k for k in keys if k not in edits.errors]
        with stage(self.name, "features", job.timings):
            prepared.update(zip(good, await asyncio.to_thread(lambda: [_features(edits, k) for k in good])))
        return prepared

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        return [float_tensor("input", values)]

    def respond(self, job: Job[int]) -> Any:
        answers = []
        for row in job.rows:
            if row.error is not None:
                answers.append(output.error_answer(self.name, self.version, job.context, row.key, row.error))
            else:
                answers.append(output.revision_answer(self.name, self.version, job.context, row.key,
                                                      output.binary_output(np.asarray(row.output), self.labels)))
        if job.form == "single":
            self.raise_when_all_failed(job, answers[0])
            return answers[0]
        return {"predictions": answers}


def _features(edits: Edits, rev_id: int) -> list[float] | ServiceError:
    try:
        return revision_features(edits.pages[rev_id], edits.parent_page(rev_id), edits.user(rev_id),
                                 edits.page_created(rev_id), edits.names)
    except HiddenText as exc:
        return TextDeleted(str(exc))


def build_revertrisk_service(name: str, card: ModelCard, version_dir: Path, labels: list[str],
                             ctx: Any) -> RevertRiskService:
    """`FACTORIES["revertrisk-language-agnostic"]` (ctx: the server's `Context`)."""
    return RevertRiskService(name, card, version_dir, labels, ctx.client, ctx.settings, ctx.predictor)
