"""`outlink-topic-model`: a demonstration model of Lift Wing's outlink topic model's shape.

Lift Wing's model classifies an article from the Wikidata ids of the articles it links to,
one-vs-all over the WikiProject topic taxonomy. Its model and training data cannot be had
here, so this trains a stand-in with the fasttext package on generated documents: bags of
`Q<digits>` ids under real taxonomy labels, each topic with a pool of ids of its own plus
ids every topic links to. Deterministic (seeded corpus without set or hash order, fastText
seed 0, one thread): two builds give byte-identical model files. About 1 s.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any, Sequence

import fasttext

from exporters.fasttext.export import FastTextExportOptions, export_fasttext

# Real labels of Lift Wing's article topic taxonomy.
TOPICS: list[str] = [
    "Culture.Media.Music",
    "Culture.Sports",
    "Culture.Literature",
    "Culture.Biography.Biography*",
    "STEM.Physics",
    "STEM.Biology",
    "STEM.Computing",
    "Geography.Regions.Europe.Europe*",
    "Geography.Regions.Asia.East_Asia",
    "History_and_Society.Politics_and_government",
    "History_and_Society.Military_and_warfare",
]
# Ids articles of every topic link to (countries, human, dates...).
GENERIC_QIDS: list[str] = ["Q5", "Q30", "Q145", "Q183", "Q142", "Q6581097", "Q6581072", "Q215627", "Q1860", "Q515",
                           "Q11424", "Q7725634", "Q4167836", "Q13442814"]
FASTTEXT_PARAMS: dict[str, Any] = dict(loss="ova", dim=16, epoch=25, lr=0.5, wordNgrams=1, minCount=1, minn=0, maxn=0,
                                       bucket=0, thread=1, seed=0, verbose=0)


def topic_qids(seed: int = 0, per_topic: int = 60) -> dict[str, list[str]]:
    """Disjoint pools of ids per topic (the fixture wiki's linked pages carry some of them)."""
    rng = random.Random(seed)
    used: set[int] = set()
    pools: dict[str, list[str]] = {}
    for topic in TOPICS:
        ids: list[str] = []
        while len(ids) < per_topic:
            n = rng.randint(100, 9_999_999)
            if n not in used:
                used.add(n)
                ids.append(f"Q{n}")
        pools[topic] = ids
    return pools


def make_document(rng: random.Random, topics: Sequence[str], pools: dict[str, list[str]],
                  n_links: int | None = None, generic_share: float = 0.3) -> list[str]:
    """The outlinks of an article about `topics`: topic ids and generic ids."""
    return [rng.choice(GENERIC_QIDS) if rng.random() < generic_share else rng.choice(pools[rng.choice(list(topics))])
            for _ in range(n_links or rng.randint(8, 40))]


def write_corpus(path: Path, n_docs: int = 3000, seed: int = 0) -> None:
    rng = random.Random(seed + 1)
    pools = topic_qids(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n_docs):
            topics = [rng.choice(TOPICS)]
            if rng.random() < 0.25:  # articles of two topics (a physicist's biography)
                other = rng.choice(TOPICS)
                if other not in topics:
                    topics.append(other)
            labels = " ".join(f"__label__{t}" for t in sorted(topics))
            handle.write(f"{labels} {' '.join(make_document(rng, topics, pools))}\n")


def train(model_file: Path, n_docs: int = 3000, seed: int = 0) -> Path:
    with tempfile.TemporaryDirectory(prefix="lwt-outlink-") as work:
        corpus = Path(work) / "outlinks.train.txt"
        write_corpus(corpus, n_docs, seed)
        fasttext.train_supervised(input=str(corpus), **FASTTEXT_PARAMS).save_model(str(model_file))
    return model_file


def build(repository: Path, force: bool, progress: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lwt-shipped-") as work:
        model_file = train(Path(work) / "outlink-topic-demo.bin")
        return export_fasttext(model_file, FastTextExportOptions(
            name="outlink-topic-model", repository=repository, version=1, force=force, progress=progress,
            service="outlink-topic-model", demonstration=True, model_version="demo-1",
            description="demonstration: fastText one-vs-all over 11 topic labels, trained on generated "
                        "documents of Wikidata ids (exporters/shipped/outlink_topic.py)"))
