"""Exporters' tunables: batching defaults written into config.pbtxt and parity tolerances.

One pydantic-settings class; each field can be overridden by an `LWT_EXPORT_<FIELD>`
environment variable (lists as JSON, e.g. `LWT_EXPORT_TREE_PREFERRED_BATCH_SIZES='[8,16]'`),
and the CLI flags of `lwt export` override both.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class ExportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LWT_EXPORT_")

    # Tree models are cheap per row: short queue delay, large batches.
    tree_max_batch_size: int = 64
    tree_queue_delay_us: int = 500
    tree_preferred_batch_sizes: list[int] = [8, 16, 32, 64]
    tree_tolerance: float = 1e-5
    # Transformers are costly per row: a longer delay forms useful batches.
    transformer_max_batch_size: int = 32
    transformer_queue_delay_us: int = 2000
    transformer_preferred_batch_sizes: list[int] = [4, 8, 16, 32]
    transformer_tolerance: float = 1e-4
    # fastText: cheap rows, like trees.
    fasttext_max_batch_size: int = 128
    fasttext_queue_delay_us: int = 500
    fasttext_tolerance: float = 1e-5


@lru_cache(maxsize=1)
def settings() -> ExportSettings:
    return ExportSettings()
