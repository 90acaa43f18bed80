"""`langid`: Lift Wing's language identification API, answered by fastText's lid.176 on Triton.

- `{"text": "..."}` -> `{"language": "de", "wikicode": "de", "languagename": "German",
  "score": 0.99}`, fastText's top label (`predict(text)`) and its probability;
- `{"instances": [{"text": ...}, ...]}` (at most `max_texts`, 100, and never more than the
  entry's `max_batch_size`) -> `{"predictions": [...]}`, one answer per instance in order,
  all texts in ONE Triton call (a text given twice is computed once).

A text is normalised as Lift Wing does it (whitespace collapsed, ends stripped, cut to the
card's `max_text_chars`: Lift Wing's 100 characters). A missing, non-string or empty text
(after normalisation), too many instances or a body over the size limit: 400.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from kserve.protocol.infer_type import InferInput

from exporters.contract.card import ModelCard
from exporters.contract.events import fields
from transformers_svc.base import Job, Row, RowService, int64_tensor, require_object
from transformers_svc.errors import BadRequest
from transformers_svc.fasttext_svc.encoder import FastTextEncoder, entry_max_batch_size, normalize
from transformers_svc.fasttext_svc.languages import Language, read_languages
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.services")
EXPECTED = '{"text": "..."} or {"instances": [{"text": "..."}, ...]}'


class LangIdService(RowService[str]):
    def __init__(self, name: str, card: ModelCard, version_dir: Path, settings: ServiceSettings,
                 predictor: Predictor) -> None:
        super().__init__(name, settings, predictor)
        self.encoder = FastTextEncoder(card, version_dir)
        self.max_chars = self.encoder.max_chars or settings.max_text_chars
        # All instances go to Triton in one call: never more rows than the entry takes.
        rows = entry_max_batch_size(Path(version_dir).parent)
        self.max_instances = min(settings.max_texts, rows) if rows else settings.max_texts
        table = read_languages()
        self.languages = {label: table.get(label, Language(None, None)) for label in self.encoder.labels}
        unnamed = [label for label, language in self.languages.items() if language.name is None]
        if unnamed:
            log.warning("labels without a language name", extra=fields(model=name, labels=unnamed[:20],
                                                                       count=len(unnamed)))

    def _text(self, item: Any, where: str) -> str:
        item = require_object(item, EXPECTED)
        if "text" not in item:
            raise BadRequest(f"{where}: missing text")
        text = item["text"]
        if not isinstance(text, str):
            raise BadRequest(f"{where}: text must be a string")
        text = normalize(text, self.max_chars)
        if not text:
            raise BadRequest(f"{where}: text is empty")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{where}: text is not valid Unicode (a lone surrogate)") from None
        return text

    def parse(self, body: Any) -> Job[str]:
        body = require_object(body, EXPECTED)
        if "instances" in body:
            items = body["instances"]
            if not isinstance(items, list) or not items:
                raise BadRequest("instances must be a non-empty list")
            if len(items) > self.max_instances:
                raise BadRequest(f"at most {self.max_instances} instances per request, got {len(items)}")
            texts = [self._text(item, f"instances[{i}]") for i, item in enumerate(items)]
            return Job([Row(t) for t in texts], form="instances")
        if "text" in body:
            return Job([Row(self._text(body, "the request"))], form="single")
        raise BadRequest(f"expected {EXPECTED}")

    async def prepare(self, keys: Sequence[str], job: Job[str]) -> Mapping[str, Any]:
        prepared: dict[str, Any] = {}
        for key in keys:
            try:
                prepared[key] = self.encoder.encode(key)
            except BadRequest as error:
                prepared[key] = error
        return prepared

    def inputs(self, values: Sequence[Any]) -> list[InferInput]:
        return [int64_tensor("input_ids", self.encoder.batch(values))]

    def respond(self, job: Job[str]) -> Any:
        for row in job.rows:  # a text fastText cannot read fails the request, as a bad text does
            if row.error is not None:
                raise row.error
        answers = []
        for row in job.rows:
            label, score = self.encoder.ranked(row.output, k=1)[0]
            language = self.languages[label]
            answers.append({"language": label, "wikicode": language.wikicode, "languagename": language.name,
                            "score": score})
        return answers[0] if job.form == "single" else {"predictions": answers}


def build_langid_service(name: str, card: ModelCard, version: Path, labels: list[str], ctx: Any) -> LangIdService:
    """`FACTORIES["langid"]` (ctx: the server's Context)."""
    return LangIdService(name, card, version, ctx.settings, ctx.predictor)
