"""Read an mBART `save_pretrained` folder (offline) and what parity and the card need from it.

Kept apart from export.py, which imports Triton's protobufs (exporters.triton_config): the
unit tests and the services import this without them (KServe's clash with them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from exporters.contract.errors import ExportError
from exporters.seq2seq import graphs
from exporters.seq2seq.sample_text import PARAGRAPHS
from exporters.seq2seq.search import Settings, UnsupportedSetting
from exporters.seq2seq.sources import encode_text, layout_of
from exporters.transformer.loading import check_model_directory

MAX_SOURCE = 1024


def load(directory: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The model (eager attention), its tokenizer and its generation settings as a dict."""
    check_model_directory(directory)
    try:
        model_type = AutoConfig.from_pretrained(directory, local_files_only=True).model_type
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{directory}: cannot read config.json ({str(exc).splitlines()[0]})") from exc
    if model_type not in graphs.SUPPORTED:  # checked first: from_pretrained would convert the config
        raise ExportError(f"{directory}: model type {model_type!r} is not supported (one of: "
                          f"{', '.join(graphs.SUPPORTED)}; T5 and Marian decoders differ: see the README)")
    try:
        model = graphs.load_model(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{directory}: cannot load the model or its tokenizer ({str(exc).splitlines()[0]})") from exc
    try:
        generation = GenerationConfig.from_pretrained(directory, local_files_only=True).to_diff_dict()
    except OSError:
        generation = GenerationConfig.from_model_config(model.config).to_diff_dict()
    generation.pop("transformers_version", None)
    defaults = {"decoder_start_token_id": model.config.decoder_start_token_id, "eos_token_id": model.config.eos_token_id,
                "pad_token_id": model.config.pad_token_id, "max_length": 20}  # what generate() falls back to
    return model, tokenizer, {**{k: v for k, v in defaults.items() if v is not None}, **generation}


def base_settings(generation: dict[str, Any], config: Any) -> Settings:
    """The model's own settings, max_length as given (as Lift Wing passes it explicitly)."""
    try:
        return Settings.from_generation_config(generation, config.max_position_embeddings,
                                               max_length=int(generation.get("max_length", 20)))
    except UnsupportedSetting as exc:
        raise ExportError(f"generation_config.json: {exc}") from None


def parity_sources(tokenizer: Any, languages: dict[str, str], count: int, eos: int) -> list[list[int]]:
    """The sample leads in the model's languages, laid out as the service lays them out."""
    layout = layout_of(tokenizer)
    sources = [encode_text(tokenizer, text, tokenizer.convert_tokens_to_ids(languages[lang]), layout, eos, MAX_SOURCE)
               for lang, text in PARAGRAPHS if lang in languages]
    if not sources:
        raise ExportError("the tokenizer has none of the sample leads' languages (mBART language codes like en_XX)")
    return sources[:count]


def target_language(settings: Settings, codes: dict[str, str], tokenizer: Any) -> str:
    ids = {tokenizer.convert_tokens_to_ids(c) for c in codes.values()}
    return "forced_bos" if settings.forced_bos_token_id is not None and settings.forced_bos_token_id in ids \
        else "decoder_start"


