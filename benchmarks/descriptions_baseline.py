"""Lift Wing's article-descriptions server today, as the benchmark's baseline (`--kind descriptions`).

A KServe Python model: `preprocess` fetches the page's lead and its interlanguage-linked
leads from MediaWiki (the same fetch and source layout as the service), `predict` runs
PyTorch `generate()` for that one request (synchronous, so requests run one after the
other, as in Lift Wing's server), `postprocess` decodes. Same request and answer as the
service: `{"lang", "title", "num_beams"}` -> `{"prediction": [...], "blp", ...}`.

It reads the MediaWiki URL from the services' settings (`LWT_MEDIAWIKI_URL`). The
benchmark starts the baseline before the fixture wiki exists, so without a URL it loads
nothing (answers 503) and is restarted with one (bench_descriptions.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kserve
import torch
from transformers import AutoTokenizer, MBartForConditionalGeneration

from exporters.seq2seq.sources import encode_text, join_segments, language_codes, layout_of
from transformers_svc.base import decode_body, require_object
from transformers_svc.descriptions_svc.leads import fetch_leads, fetch_page
from transformers_svc.errors import BadRequest, ServiceError
from transformers_svc.mediawiki.client import MediaWikiClient, api_url_for, deadline
from transformers_svc.settings import ServiceSettings


class NotConfigured(ServiceError):
    status, kind = 503, "NotConfigured"


class DescriptionsBaseline(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.settings = ServiceSettings()
        self._clients: dict[str, MediaWikiClient] = {}

    def load(self) -> bool:
        if self.settings.mediawiki_url:
            self.model = MBartForConditionalGeneration.from_pretrained(self.path, local_files_only=True).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.generation = json.loads((self.path / "generation_config.json").read_text())
            self.codes = {lang: int(self.tokenizer.convert_tokens_to_ids(code))
                          for lang, code in language_codes(self.tokenizer).items()}
            self.layout = layout_of(self.tokenizer)
        self.ready = True
        return True

    def client(self, wiki: str) -> MediaWikiClient:
        url = api_url_for(wiki, self.settings.mediawiki_url)
        if url not in self._clients:
            self._clients[url] = MediaWikiClient(url, self.settings)
        return self._clients[url]

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        if not self.settings.mediawiki_url:
            raise NotConfigured("no MediaWiki URL (LWT_MEDIAWIKI_URL): this baseline is waiting to be restarted")
        body = require_object(decode_body(payload), '{"lang": "en", "title": "...", "num_beams": 2}')
        lang, title, beams = body.get("lang"), body.get("title"), body.get("num_beams", 1)
        if lang not in self.codes or not isinstance(title, str) or not isinstance(beams, int):
            raise BadRequest("expected lang, title and num_beams")
        client = self.client(f"{lang}wiki")
        async with deadline(self.settings.mediawiki_timeout, f"MediaWiki API at {client.api_url}"):
            page = await fetch_page(client, title)
            links = {k: v for k, v in page.langlinks.items() if k in self.codes and k != lang}
            leads = {lang: page.lead, **(await fetch_leads(self.client, links) if links else {})}
        limit, eos = self.settings.descriptions_max_source_tokens, int(self.generation.get("eos_token_id", 2))
        source = join_segments([encode_text(self.tokenizer, leads[code], self.codes[code], self.layout, eos, limit)
                                for code in sorted(leads, key=lambda c: (c != lang, c)) if leads[code]], limit)
        return {"lang": lang, "title": title, "num_beams": beams, "blp": page.blp, "source": source}

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        ids = torch.tensor([payload["source"]])
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                      num_beams=payload["num_beams"], num_return_sequences=payload["num_beams"],
                                      max_length=int(self.generation.get("max_length", 20)),
                                      decoder_start_token_id=self.codes[payload["lang"]])
        payload["sequences"] = out.tolist()
        return payload

    def postprocess(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        predictions = [self.tokenizer.decode(s, skip_special_tokens=True).strip() for s in payload["sequences"]]
        return {"prediction": predictions, "blp": payload["blp"], "lang": payload["lang"], "title": payload["title"],
                "num_beams": payload["num_beams"]}
