"""A KServe transformer in the revertrisk-multilingual shape: the revision's text and its
parent's, tokenised as a pair with the tokenizer stored beside the model, classified by
Triton, answered as Lift Wing does:
`{"model_name", "model_version", "wiki_db", "revision_id", "output": {"prediction",
"probabilities": {"true", "false"}}}`. Input: `{"rev_id": N[, "lang": "en"]}`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from pathlib import Path
from typing import Any, Callable

import httpx
import kserve
import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from transformers_svc.errors import BadRequest, PredictorUnavailable, RevisionNotFound
from transformers_svc.mediawiki.client import MediaWikiClient, main_text
from transformers_svc.metrics import ERRORS, stage

log = logging.getLogger("lwt.text")
BUCKET = 16  # pad to a multiple: requests of near lengths share a shape and batch natively

_STATE: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("lwt_text_request")


class TextClassificationService(kserve.Model):
    def __init__(self, name: str, card: dict[str, Any], tokenizer_dir: Path, labels: list[str],
                 clients: Callable[[str], MediaWikiClient], wiki_db: str) -> None:
        super().__init__(name)
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        self.input_names = list(card["inputs"])
        self.max_length = int(card.get("max_sequence_length", 512))
        self.labels = [l.lower() for l in labels] or ["false", "true"]
        self.true_index = self.labels.index("true") if "true" in self.labels else len(self.labels) - 1
        self.version = str(card.get("model_version") or Path(tokenizer_dir).parent.name)  # the repository version
        self.clients = clients
        self.default_wiki = wiki_db
        self.ready = True

    def _parse(self, payload: Any) -> tuple[int, str]:
        if isinstance(payload, (bytes, str)):
            try:
                payload = json.loads(payload)
            except ValueError:
                raise BadRequest("the request body must be JSON") from None
        if not isinstance(payload, dict) or "rev_id" not in payload:
            raise BadRequest('expected {"rev_id": N, "lang": "en"}')
        rev_id, lang = payload["rev_id"], payload.get("lang")
        if isinstance(rev_id, bool) or not isinstance(rev_id, int) or rev_id <= 0:
            raise BadRequest("rev_id must be a positive integer")
        if lang is not None and (not isinstance(lang, str) or not lang.replace("_", "").replace("-", "").isalnum()):
            raise BadRequest("lang must be a language code such as 'en'")
        return rev_id, f"{lang.replace('-', '_')}wiki" if lang else self.default_wiki

    async def _texts(self, client: MediaWikiClient, rev_id: int) -> tuple[str, str]:
        doc = await client.revisions([rev_id])
        pages = [p for p in doc.get("query", {}).get("pages", {}).values() if p.get("revisions")]
        if doc.get("query", {}).get("badrevids") or not pages:
            raise RevisionNotFound(f"revision {rev_id} does not exist")
        text = main_text(pages[0], rev_id)
        parent_id = int(pages[0]["revisions"][0].get("parentid", 0))
        if not parent_id:
            return "", text
        parent = [p for p in (await client.revisions([parent_id])).get("query", {}).get("pages", {}).values()
                  if p.get("revisions")]
        return (main_text(parent[0], parent_id) if parent else ""), text

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> InferRequest:
        rev_id, wiki = self._parse(payload)
        state = {"rev_id": rev_id, "wiki_db": wiki, "timings": {}}
        _STATE.set(state)
        with stage(self.name, "fetch", state["timings"]):
            parent_text, text = await self._texts(self.clients(wiki), rev_id)
        with stage(self.name, "tokenize", state["timings"]):
            encoded = await asyncio.to_thread(
                self.tokenizer, parent_text, text, truncation="longest_first", max_length=self.max_length,
                padding=True, pad_to_multiple_of=BUCKET, return_tensors="np")
        inputs = []
        for name in self.input_names:
            tensor = InferInput(name=name, shape=list(encoded[name].shape), datatype="INT64")
            tensor.set_data_from_numpy(encoded[name].astype(np.int64), binary_data=True)
            inputs.append(tensor)
        return InferRequest(model_name=self.name, infer_inputs=inputs)

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        with stage(self.name, "predict", _STATE.get()["timings"]):
            try:
                return await super().predict(payload, headers)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                ERRORS.labels(self.name, PredictorUnavailable.kind).inc()
                raise PredictorUnavailable(f"the Triton predictor for {self.name} is unavailable") from exc

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> dict[str, Any]:
        state = _STATE.get()
        logits = (result.outputs[0].as_numpy() if isinstance(result, InferResponse) else np.asarray(result))[0]
        exp = np.exp(logits - logits.max())
        probabilities = exp / exp.sum()
        p_true = float(probabilities[self.true_index])
        log.info("scored", extra={"model": self.name, "rev_id": state["rev_id"], **state["timings"]})
        return {"model_name": self.name, "model_version": self.version, "wiki_db": state["wiki_db"],
                "revision_id": state["rev_id"],
                "output": {"prediction": p_true > 0.5, "probabilities": {"true": p_true, "false": 1 - p_true}}}
