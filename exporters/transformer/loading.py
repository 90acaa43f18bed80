"""Read a local Hugging Face model directory (`save_pretrained` output), offline only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: set before transformers reads it
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import transformers  # noqa: E402

from exporters.contract.errors import ExportError  # noqa: E402
from exporters.transformer.tasks import TaskSpec  # noqa: E402
from exporters.transformer.texts import SAMPLE_TEXTS  # noqa: E402

WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "vocab.json")


@dataclass
class HFModel:
    directory: Path
    config: Any
    tokenizer: Any
    model: Any  # torch.nn.Module, eval mode
    input_names: list[str]

    @property
    def labels(self) -> list[str]:
        id2label = getattr(self.config, "id2label", None) or {}
        return [str(id2label[i]) for i in sorted(id2label)] if id2label else []


def check_model_directory(directory: Path) -> None:
    """A save_pretrained() folder: config and weights (every Hugging Face exporter's first check)."""
    if not directory.is_dir():
        raise ExportError(f"{directory}: no such model directory")
    if not (directory / "config.json").is_file():
        raise ExportError(f"{directory}: not a Hugging Face model directory (no config.json)")
    if not any((directory / w).is_file() for w in WEIGHTS):
        raise ExportError(f"{directory}: no weights (expected one of {', '.join(WEIGHTS)})")


def _check_directory(directory: Path) -> None:
    check_model_directory(directory)
    if not any((directory / t).is_file() for t in TOKENIZER_FILES):
        raise ExportError(f"{directory}: no tokenizer files (the tokenizer is stored beside the model)")


def load_hf_model(directory: Path, task: TaskSpec) -> HFModel:
    directory = Path(directory)
    _check_directory(directory)
    try:
        config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{directory}: cannot read the config or tokenizer ({str(exc).splitlines()[0]})") from exc
    architectures = list(getattr(config, "architectures", None) or [])
    if task.architecture_suffix and not any(a.endswith(task.architecture_suffix) for a in architectures):
        raise ExportError(f"{directory}: task {task.name} needs a *{task.architecture_suffix} model, "
                          f"this one is {architectures or 'of unknown architecture'}")
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab and len(tokenizer) > vocab:
        raise ExportError(f"{directory}: tokenizer does not match the model: {len(tokenizer)} tokens, "
                          f"but the model's embedding has {vocab}")
    try:
        model = getattr(transformers, task.auto_class).from_pretrained(directory, local_files_only=True).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{directory}: cannot load the weights ({str(exc).splitlines()[0]})") from exc
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and int(getattr(config, "type_vocab_size", 0) or 0) > 0:
        names.append("token_type_ids")
    return HFModel(directory, config, tokenizer, model, names)


def tokenize(hf: HFModel, texts: list[str], max_length: int, pad_to: int | None = None) -> dict[str, Any]:
    padding: dict[str, Any] = {"padding": "max_length", "max_length": pad_to} if pad_to else \
        {"padding": True, "max_length": max_length}
    encoded = hf.tokenizer(texts, truncation=True, return_tensors="np", **padding)
    return {name: encoded[name].astype("int64") for name in hf.input_names}


def sample_batch(hf: HFModel, max_length: int) -> dict[str, Any]:
    """Tokenised sample texts of many lengths and scripts, padded: the parity inputs."""
    return tokenize(hf, SAMPLE_TEXTS, max_length)
