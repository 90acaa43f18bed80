"""The benchmark's baseline for `mini-embedding`: a Lift Wing-style KServe Python model
server running all-MiniLM-L6-v2 in PyTorch, one request at a time.

Per request: tokenise the text (truncated at the model's `max_seq_length`), run the
encoder in PyTorch eager mode, mean-pool over the attention mask and L2-normalise, which
is what sentence-transformers' `encode` does for this model (its `modules.json`:
Transformer, Pooling(mean), Normalize). Same body in (`{"text": ...}` on
`/v1/models/<name>:predict`) and same answer out as our `embedding` service. Kept apart
from `benchmarks.bench_embedding` so the baseline process imports KServe and never
tritonclient (their protobufs clash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kserve
from kserve.errors import InvalidInput


class SentenceEmbeddingModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = Path(path)

    def load(self) -> bool:
        # Imported here: torch takes seconds to import, and only this baseline needs it.
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        # One intra-op thread: per request on a short text, more threads gain little, and on a
        # shared machine OpenMP's spin-waiting made a request 10x slower (162 ms vs 12 ms
        # measured here): the baseline's best case, so the comparison does not flatter Triton.
        torch.set_num_threads(1)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        config = self.path / "sentence_bert_config.json"
        self.max_length = int(json.loads(config.read_text())["max_seq_length"]) if config.is_file() else 256
        self.ready = True
        return True

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> str:
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("The input 'text' should be a non-empty string.")
        return text

    def predict(self, text: Any, headers: dict[str, str] | None = None, *_: Any) -> dict[str, Any]:
        torch = self.torch
        encoded = self.tokenizer([text], truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            embedding = torch.nn.functional.normalize(pooled, p=2, dim=1)[0]
        return {"model_name": self.name, "model_version": "1", "embedding": embedding.tolist()}
