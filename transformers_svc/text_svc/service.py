"""A KServe transformer in the revertrisk-multilingual shape: a revision's text and its
parent's, tokenised as a pair with the tokenizer stored beside the model, classified by
Triton, answered in Lift Wing's `output` format (`codecs.output`).

Inputs: `codecs.lang_revision` (`{"lang", "rev_id"}`, `{"instances": [...]}`, `{"event": ...}`).
The texts of a whole batch come in two MediaWiki calls; the batch is one Triton call,
padded to a multiple of 16 tokens so that requests of near lengths share a shape.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from kserve.protocol.infer_type import InferInput
from transformers import AutoTokenizer

from exporters.contract.card import ModelCard
from exporters.contract.layout import TOKENIZER
from transformers_svc.base import Job, RowService, int64_tensor
from transformers_svc.codecs import lang_revision, output
from transformers_svc.mediawiki.client import MediaWikiClient, deadline
from transformers_svc.mediawiki.revisions import fetch
from transformers_svc.metrics import stage
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

BUCKET = 16  # pad to a multiple: requests of near lengths share a shape and batch natively
MAX_INSTANCES = 20


class TextClassificationService(RowService[int]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, labels: list[str],
                 clients: Callable[[str], MediaWikiClient], settings: ServiceSettings, predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        assert card.transformer is not None
        self.tokenizer = AutoTokenizer.from_pretrained(str(version_dir / TOKENIZER), local_files_only=True)
        self.input_names = [t.name for t in card.inputs]
        self.max_length = card.transformer.max_sequence_length
        self.labels = labels or card.labels or ["false", "true"]
        self.version = card.model_version
        self.clients = clients

    def parse(self, body: Any) -> Job[int]:
        return lang_revision.revision_job(body, MAX_INSTANCES)

    async def prepare(self, keys: Sequence[int], job: Job[int]) -> Mapping[int, Any]:
        client = self.clients(job.context)
        with stage(self.name, "fetch", job.timings):
            async with deadline(self.settings.mediawiki_timeout, f"MediaWiki API at {client.api_url}"):
                fetched = await fetch(client, keys)
        prepared: dict[int, Any] = dict(fetched.errors)
        good = [k for k in keys if k not in fetched.errors]
        if good:
            with stage(self.name, "tokenize", job.timings):
                encoded = await asyncio.to_thread(
                    self.tokenizer, [fetched.parent_text(k) for k in good], [fetched.text(k) for k in good],
                    truncation="longest_first", max_length=self.max_length)
            for i, key in enumerate(good):
                prepared[key] = {name: encoded[name][i] for name in self.input_names}
        return prepared

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        longest = max(len(v[self.input_names[0]]) for v in values)
        width = -(-longest // BUCKET) * BUCKET
        tensors = []
        for name in self.input_names:
            batch = np.zeros((len(values), width), dtype=np.int64)
            for i, value in enumerate(values):
                batch[i, : len(value[name])] = value[name]
            tensors.append(int64_tensor(name, batch))
        return tensors

    def respond(self, job: Job[int]) -> Any:
        answers = []
        for row in job.rows:
            if row.error is not None:
                answers.append(output.error_answer(self.name, self.version, job.context, row.key, row.error))
                continue
            probabilities = output.softmax(np.asarray(row.output, dtype=np.float64))
            answers.append(output.revision_answer(self.name, self.version, job.context, row.key,
                                                  output.binary_output(probabilities, self.labels)))
        if job.form == "single":
            self.raise_when_all_failed(job, answers[0])
            return answers[0]
        return {"predictions": answers}
