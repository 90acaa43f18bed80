"""revscoring models of the ORES families, trained here as their packages train them, on
generated wikitext (and a small seeded gensim KeyedVectors for the topic models), saved with
revscoring's `dump` like any user's model file.

- articlequality: 6 classes (Stub ... FA), GradientBoosting, ten language-free wikitext features;
- draftquality: 4 classes (OK, attack, spam, vandalism), GradientBoosting, English badword and
  informal matches beside wikitext features;
- articletopic: multi-label GradientBoosting, drafttopic's enwiki list: the word2vec mean of
  the revision's words, then four pronoun counts;
- drafttopic: multi-label GradientBoosting on the word2vec mean alone (the other wikis' lists).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import exporters.contract.revscoring_features  # noqa: F401 - NLTK's offline data before revscoring.languages
from exporters.revertrisk.dump import read_dump
from revscoring.datasources import revision_oriented
from revscoring.datasources.meta import mappers, vectorizers
from revscoring.dependencies import solve
from revscoring.features import modifiers, wikitext
from revscoring.features.meta import aggregators
from revscoring.languages import english
from revscoring.scoring.models import GradientBoosting

FIXTURES = Path(__file__).resolve().parents[2] / "lwt" / "stack" / "fixture"
QUALITY = ["Stub", "Start", "C", "B", "GA", "FA"]
DRAFT = ["OK", "attack", "spam", "vandalism"]
TOPICS = ["Culture.Media.Media*", "Geography.Regions.Europe.Europe*", "History_and_Society.History",
          "STEM.Biology", "STEM.Space"]


class KVWords:
    """A picklable `vectorize_words` over a gensim KeyedVectors file (loaded lazily): the
    model file names the file, as drafttopic's module names its `.kv`."""

    def __init__(self, path: Path, keyed_vectors: Any = None) -> None:
        self.path = str(path)
        self._kv = keyed_vectors

    @property
    def keyed_vectors(self) -> Any:
        if self._kv is None:
            self._kv = vectorizers.word2vec.load_gensim_kv(path=self.path, mmap="r")
        return self._kv

    def __call__(self, words: Sequence[str] | None) -> list:
        return vectorizers.word2vec.vectorize_words(self.keyed_vectors, words)

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.path, self._kv = state["path"], None

    def __repr__(self) -> str:  # part of revscoring's generated names
        return f"KVWords({Path(self.path).name!r})"


def words_of(text: str) -> list[str]:
    """revscoring's own lower-cased word tokens of a text."""
    return list(solve(mappers.lower_case(wikitext.revision.datasources.words),
                      cache={revision_oriented.revision.text: text}) or [])


def fixture_texts() -> list[str]:
    return [r["text"] for dump in sorted(FIXTURES.glob("*.xml")) for revs in read_dump(dump).values() for r in revs]


def build_keyed_vectors(path: Path, dim: int = 24, seed: int = 7) -> tuple[Any, dict[str, int]]:
    """Every word of the fixture wiki plus generated ones, each given a topic (or none) and
    a vector near its topic's centre; saved as a gensim `.kv`."""
    from gensim.models import KeyedVectors  # imported here: gensim takes seconds and only this builder needs it

    rng = np.random.default_rng(seed)
    words = sorted({w for text in fixture_texts() for w in words_of(text)})
    seen = set(words)
    while len(words) < 3000:
        w = "".join(rng.choice(list("bcdfghklmnprstvz")) + rng.choice(list("aeiou")) for _ in range(int(rng.integers(2, 5))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    words += ["istanbul", "naïve", "straße"]
    centres = rng.normal(0, 1, (len(TOPICS), dim))
    topic = {w: int(rng.integers(len(TOPICS))) if rng.random() < 0.7 else -1 for w in words}
    vectors = np.stack([(centres[topic[w]] if topic[w] >= 0 else 0) + rng.normal(0, 0.8, dim) for w in words])
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(words, vectors.astype(np.float32))
    kv.save(str(path))
    return kv, topic


def topic_documents(topic: dict[str, int], n: int, seed: int) -> list[tuple[str, list[str]]]:
    """Wikitext-ish documents of one or two topics, with unknown words, markup, pronouns and
    mixed case (and a few with no known word), and their topic labels."""
    rng = np.random.default_rng(seed)
    by_topic = {t: [w for w, k in topic.items() if k == t] for t in range(len(TOPICS))}
    neutral = [w for w, k in topic.items() if k < 0]
    docs = []
    for i in range(n):
        chosen = sorted(set(rng.choice(len(TOPICS), size=int(rng.integers(1, 3))).tolist()))
        parts = []
        for _ in range(0 if i % 25 == 0 else int(rng.integers(5, 150))):
            r = rng.random()
            if r < 0.6:
                pool = by_topic[int(rng.choice(chosen))]
                w = pool[int(rng.integers(len(pool)))]
            elif r < 0.8:
                w = neutral[int(rng.integers(len(neutral)))]
            elif r < 0.9:
                w = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(3, 9))))
            else:
                w = str(rng.choice(["she", "he", "her", "his", "[[", "]]", "{{Cite web|url=http://x.org}}", "1984",
                                    ",", ".", "İstanbul", "'''", "== Heading =="]))
            parts.append(w.capitalize() if rng.random() < 0.2 else w)
        docs.append((" ".join(parts), [TOPICS[t] for t in chosen]))
    return docs


def topic_features(kv_path: Path, keyed_vectors: Any, pronouns: bool) -> list:
    """drafttopic's chain: lower-cased words -> word2vec -> mean (vector=True); enwiki adds pronoun counts."""
    vectors = vectorizers.word2vec(mappers.lower_case(wikitext.revision.datasources.words),
                                   KVWords(kv_path, keyed_vectors), name="revision.text.test_vectors")
    w2v = aggregators.mean(vectors, vector=True, name="revision.text.test_vectors_mean")
    if not pronouns:
        return [w2v]
    female = aggregators.len(wikitext.revision.datasources.tokens_matching(r"\b(she|her|hers)\b"))
    male = aggregators.len(wikitext.revision.datasources.tokens_matching(r"\b(he|him|his)\b"))
    return [w2v, female, male, female + male, female / modifiers.max(female + male, 1)]


QUALITY_FEATURES = [
    wikitext.revision.chars, wikitext.revision.content_chars, wikitext.revision.headings,
    wikitext.revision.headings_by_level(2), wikitext.revision.wikilinks, wikitext.revision.external_links,
    wikitext.revision.ref_tags, wikitext.revision.templates, wikitext.revision.tags, wikitext.revision.words,
]
DRAFT_FEATURES = [
    english.badwords.revision.matches, english.informals.revision.matches, wikitext.revision.external_links,
    wikitext.revision.chars, wikitext.revision.ref_tags, wikitext.revision.uppercase_words,
    wikitext.revision.wikilinks,
]
SENTENCE = "The {} of the [[{}]] was described by several sources in {}."


def quality_documents(n: int, seed: int) -> list[tuple[str, str]]:
    """Articles from a stub to a long, sourced one; the class follows their size and sourcing."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        level = rng.random()
        sections = int(level * 8 + rng.integers(0, 2))
        body = [SENTENCE.format("history", "Topic", 1900 + int(rng.integers(100)))]
        for s in range(sections):
            body.append(f"\n== Section {s} ==\n")
            for _ in range(int(1 + level * 6 + rng.integers(0, 3))):
                ref = f"<ref>{{{{cite web|url=http://example.org/{rng.integers(1000)}|title=Source}}}}</ref>" \
                    if rng.random() < level else ""
                body.append(SENTENCE.format("origin", f"Link {rng.integers(50)}", 1800 + int(rng.integers(200))) + ref)
        text = " ".join(body) + ("\n{{Reflist}}\n[[Category:Things]]" if level > 0.3 else "")
        docs.append((text, QUALITY[min(5, int(level * 6))]))
    return docs


def draft_documents(n: int, seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    kinds = {
        "OK": lambda: SENTENCE.format("study", "Science", 1990) + "<ref>Book (2001).</ref> " * int(rng.integers(1, 4)),
        "attack": lambda: "John Smith is a stupid idiot and a loser, he sucks lol. " * int(rng.integers(1, 3)),
        "spam": lambda: "BUY CHEAP WATCHES at [http://watches.example.com best prices] NOW!!! " * int(rng.integers(1, 4)),
        "vandalism": lambda: "poop poop fuck this shit hahaha " * int(rng.integers(1, 3)) + SENTENCE.format("x", "Y", 2000),
    }
    docs = []
    for i in range(n):
        label = DRAFT[i % len(DRAFT)]
        docs.append((kinds[label]() + (" " + SENTENCE.format("part", "Thing", 2010)) * int(rng.integers(0, 3)), label))
    return docs


def values(features: Sequence[Any], text: str) -> list:
    return list(solve(features, cache={revision_oriented.revision.text: text}))


@dataclass
class Family:
    name: str  # the repository entry, `enwiki-<model>`
    model: Any  # the revscoring ScoringModel
    path: Path  # its dump


def _dump(model: Any, path: Path) -> Path:
    with open(path, "wb") as handle:
        model.dump(handle)
    return path


def build_families(folder: Path) -> dict[str, Family]:
    kv_path = folder / "test.kv"
    kv, topic = build_keyed_vectors(kv_path)
    made: dict[str, Family] = {}
    train: dict[str, Callable[[], Any]] = {}

    def articlequality() -> Any:
        model = GradientBoosting(QUALITY_FEATURES, labels=QUALITY, version="0.9.2", n_estimators=40, max_depth=3,
                                 random_state=0)
        model.train([(values(QUALITY_FEATURES, t), label) for t, label in quality_documents(400, 1)])
        return model

    def draftquality() -> Any:
        model = GradientBoosting(DRAFT_FEATURES, labels=DRAFT, version="0.2.1", n_estimators=30, max_depth=3,
                                 random_state=0)
        model.train([(values(DRAFT_FEATURES, t), label) for t, label in draft_documents(200, 2)])
        return model

    def topic_model(pronouns: bool, version: str) -> Callable[[], Any]:
        def build() -> Any:
            features = topic_features(kv_path, kv, pronouns)
            model = GradientBoosting(features, labels=TOPICS, multilabel=True, version=version, n_estimators=25,
                                     max_depth=3, learning_rate=0.2, random_state=0)
            model.train([(values(features, t), labels) for t, labels in topic_documents(topic, 300, 3)])
            return model
        return build

    train = {"articlequality": articlequality, "draftquality": draftquality,
             "articletopic": topic_model(True, "1.3.0"), "drafttopic": topic_model(False, "1.2.0")}
    for key, build in train.items():
        model = build()
        made[key] = Family(f"enwiki-{key}", model, _dump(model, folder / f"enwiki.{key}.model"))
    return made
