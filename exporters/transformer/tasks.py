"""One small spec per task: what the exported graph takes and returns (optimum's shape).

Inputs are always INT64 `input_ids`, `attention_mask` (+ `token_type_ids` when the model
has them) with dims `[-1]` (batch and sequence dynamic). The output depends on the task;
`sentence-embedding` puts mean pooling and L2 normalisation inside the graph, so the
server returns finished embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class TaskSpec:
    name: str
    output: str
    optimum_task: str | None  # None: optimum cannot express it; torch.onnx.export is used
    architecture_suffix: str  # a model must declare this head in config.architectures ("" = any)
    output_dims: Callable[[Any], tuple[int, ...]]  # from the HF config, without the batch dim
    auto_class: str


class SentenceEmbedding(torch.nn.Module):
    """Encoder + masked mean pooling + L2 normalisation, as sentence-transformers does."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        kwargs = {"token_type_ids": rest[0]} if rest else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


class Positional(torch.nn.Module):
    """Positional inputs and one tensor out: what tracing and the LibTorch backend need."""

    def __init__(self, model: torch.nn.Module, output: str) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        kwargs = {"token_type_ids": rest[0]} if rest else {}
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs), self.output)


TASKS: dict[str, TaskSpec] = {
    "sequence-classification": TaskSpec(
        "sequence-classification", "logits", "text-classification", "ForSequenceClassification",
        lambda config: (int(config.num_labels),), "AutoModelForSequenceClassification"),
    "feature-extraction": TaskSpec(
        "feature-extraction", "last_hidden_state", "feature-extraction", "",
        lambda config: (-1, int(config.hidden_size)), "AutoModel"),
    "sentence-embedding": TaskSpec(
        "sentence-embedding", "embedding", None, "",
        lambda config: (int(config.hidden_size),), "AutoModel"),
}


def torch_module(task: TaskSpec, model: torch.nn.Module) -> torch.nn.Module:
    """The module whose positional forward is what the server runs."""
    if task.name == "sentence-embedding":
        return SentenceEmbedding(model).eval()
    return Positional(model, task.output).eval()
