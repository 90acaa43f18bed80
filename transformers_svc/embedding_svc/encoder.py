"""Text -> the exported embedder's input tensors -> embeddings, shared by the service and
the index builder so both embed a text exactly alike.

Tokenised with the tokenizer stored beside the model (truncated at the card's maximum
sequence length, as sentence-transformers truncates at its `max_seq_length`); a batch is
padded to a multiple of 16 tokens, so requests of near lengths share a shape and Triton's
dynamic batcher can merge them. Pooling and L2 normalisation are inside the ONNX graph.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest
from transformers import AutoTokenizer

from exporters.contract.card import ModelCard
from exporters.contract.errors import CardError
from exporters.contract.layout import CONFIG, TOKENIZER
from transformers_svc.base import int64_tensor
from transformers_svc.predictor import Predictor

BUCKET = 16
# config.pbtxt's top-level `max_batch_size` (text format prints nested fields indented).
# Read with a pattern, not Triton's protobuf: tritonclient's protos clash with KServe's here.
_MAX_BATCH = re.compile(r"^max_batch_size:\s*(\d+)\s*$", re.MULTILINE)


def max_batch_size(model_dir: Path) -> int:
    found = _MAX_BATCH.search((model_dir / CONFIG).read_text())
    return int(found.group(1)) if found and int(found.group(1)) > 0 else 1


class Encoder:
    """One embedding model version: its tokenizer, its inputs, its Triton entry."""

    def __init__(self, name: str, card: ModelCard, version_dir: Path) -> None:
        if card.task != "sentence-embedding" or card.transformer is None or not card.outputs:
            raise CardError(f"{version_dir}: {name} is not a sentence-embedding model (task {card.task})")
        self.name = name
        self.version = card.model_version
        self.tokenizer = AutoTokenizer.from_pretrained(str(version_dir / TOKENIZER), local_files_only=True)
        self.input_names = [t.name for t in card.inputs]
        self.max_length = card.transformer.max_sequence_length
        self.dimension = card.outputs[0].shape[-1]
        self.max_batch = max_batch_size(version_dir.parent)

    def tokenize(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [{name: list(encoded[name][i]) for name in self.input_names if name in encoded}
                for i in range(len(texts))]

    def tensors(self, rows: Sequence[dict[str, list[int]]]) -> list[InferInput]:
        """The rows as one batch, zero-padded (mask 0) to the next multiple of BUCKET."""
        longest = max(len(r["input_ids"]) for r in rows)
        width = min(-(-longest // BUCKET) * BUCKET, max(longest, self.max_length))
        tensors = []
        for name in self.input_names:
            batch = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                values = row.get(name)
                if values is not None:  # absent token_type_ids stay zeros, as the tokenizer would give
                    batch[i, : len(values)] = values
            tensors.append(int64_tensor(name, batch))
        return tensors

    async def run(self, predictor: Predictor, rows: Sequence[dict[str, list[int]]]) -> np.ndarray:
        """Embeddings of prepared rows: one Triton call per `max_batch_size` rows, concurrent."""
        chunks = [rows[i: i + self.max_batch] for i in range(0, len(rows), self.max_batch)]
        answers = await asyncio.gather(*(predictor.infer(InferRequest(model_name=self.name,
                                                                      infer_inputs=self.tensors(c)))
                                         for c in chunks))
        return np.concatenate([a.outputs[0].as_numpy().reshape(len(c), -1) for a, c in zip(answers, chunks)])

    async def embed(self, predictor: Predictor, texts: Sequence[str]) -> np.ndarray:
        rows = await asyncio.to_thread(self.tokenize, texts)
        return await self.run(predictor, rows)


def as_floats(vector: Any) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]
