"""The benchmark's baseline for `langid`: Lift Wing's langid model server as it is today.

A KServe Python model that loads the fastText model in-process and, per request,
normalises the text as Lift Wing does (whitespace collapsed, cut to 100 characters), calls
`predict(text)` (one text, top label) and answers `{"language", "wikicode",
"languagename", "score"}` on `/v1/models/<name>:predict`: the same body in and the same
answer out as our `langid` service. Kept apart from `benchmarks.models` so that the
baseline process imports KServe and never tritonclient (their protobufs clash).
"""

from __future__ import annotations

from typing import Any

import kserve
from fasttext.FastText import _FastText
from kserve.errors import InvalidInput

from transformers_svc.fasttext_svc.encoder import normalize
from transformers_svc.fasttext_svc.languages import Language, read_languages

MAX_TEXT_LENGTH = 100  # Lift Wing langid's default


class FastTextLangIdModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        self.model = _FastText(model_path=self.path)
        self.languages = read_languages()
        self.ready = True
        return True

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> str:
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            raise InvalidInput("The input 'text' should be a string.")
        return normalize(text, MAX_TEXT_LENGTH)

    def predict(self, text: Any, headers: dict[str, str] | None = None, *_: Any) -> dict[str, Any]:
        labels, scores = self.model.predict(text)
        language = labels[0].replace("__label__", "")
        known = self.languages.get(language, Language(None, None))
        return {"language": language, "wikicode": known.wikicode, "languagename": known.name,
                "score": float(scores[0])}
