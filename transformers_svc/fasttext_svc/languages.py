"""Language names and Wikipedia codes of `lid.176`'s labels, as Lift Wing's langid answers
them (`wikicode`, `languagename`; its own table, `languages.tsv`, is for lid201's labels).

`languages.tsv` maps the 176 labels: the Wikipedia code is the label itself except for
Cantonese (`zh-yue`) and Chavacano (`cbk-zam`); `lid.176` was trained on Wikipedia, so its
labels are Wikipedia's codes (`als` is Alemannic, `bh` Bhojpuri, `sh` Serbo-Croatian).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("languages.tsv")


@dataclass(frozen=True)
class Language:
    wikicode: str | None
    name: str | None


def read_languages(path: Path = TABLE) -> dict[str, Language]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["lid_language"]: Language(row["wikicode"] or None, row["language_name"] or None)
                for row in csv.DictReader(handle, delimiter="\t")}
