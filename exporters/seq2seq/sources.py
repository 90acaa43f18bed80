"""How a text becomes an mBART source, in one place for the exporter's parity check and the
article-descriptions service: the model's language codes, the source layout, truncation.

mBART-cc25 (`MBartTokenizer`) lays a source out as `tokens </s> <language code>`
("suffix"); mBART-50 (`MBart50Tokenizer`) as `<language code> tokens </s>` ("prefix"). The
text is tokenised without special tokens and laid out here, so the synthetic tokenizer and
a real one give the same layout.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Sequence

Layout = Literal["suffix", "prefix"]
_CODE = re.compile(r"^([a-z]{2,3})_[A-Z]{2}$")


def language_codes(tokenizer: Any) -> dict[str, str]:
    """Wiki language -> the model's language code token (`en` -> `en_XX`), from the tokens
    of the tokenizer shaped like mBART's codes; the first code of a language wins."""
    tokens = list(getattr(tokenizer, "additional_special_tokens", None) or []) + sorted(tokenizer.get_vocab())
    codes: dict[str, str] = {}
    for token in tokens:
        match = _CODE.match(token)
        if match and match.group(1) not in codes:
            codes[match.group(1)] = token
    return codes


def layout_of(tokenizer: Any) -> Layout:
    return "prefix" if type(tokenizer).__name__.startswith("MBart50") else "suffix"


def encode_text(tokenizer: Any, text: str, code_id: int, layout: Layout, eos_id: int, max_tokens: int) -> list[int]:
    """One language's segment: its tokens with `</s>` and the language code, at most
    `max_tokens` ids (the text's tokens are cut, never the markers)."""
    ids = tokenizer(text, add_special_tokens=False, return_token_type_ids=False)["input_ids"][: max(0, max_tokens - 2)]
    return [*ids, eos_id, code_id] if layout == "suffix" else [code_id, *ids, eos_id]


def join_segments(segments: Sequence[list[int]], max_tokens: int) -> list[int]:
    """Whole segments in order while they fit (the first one always, cut to fit)."""
    source: list[int] = []
    for i, segment in enumerate(segments):
        if i and len(source) + len(segment) > max_tokens:
            break
        source += segment
    return source[:max_tokens]
