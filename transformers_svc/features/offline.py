"""Make revscoring's language features work offline.

revscoring's English features read NLTK's stopwords corpus and an enchant dictionary.
`nltk.download` cannot fetch here, so the project ships the stopword list and puts it on
`nltk.data.path`; the enchant dictionary comes from Debian's `hunspell-en-us` (set-up).
Import this module before any `revscoring.languages` module.
"""

from __future__ import annotations

from pathlib import Path

NLTK_DATA = Path(__file__).parent / "data" / "nltk"


def use_shipped_nltk_data() -> None:
    import nltk

    if str(NLTK_DATA) not in nltk.data.path:
        nltk.data.path.insert(0, str(NLTK_DATA))


use_shipped_nltk_data()
