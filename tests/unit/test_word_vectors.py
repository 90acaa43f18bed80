"""Word-vector features in the exported graph (no server): the layout found in a model's own
feature list, the lookup and float64 mean reproducing revscoring's values, the whole graph
answering as `ScoringModel.score`, and the service's word ids."""

from __future__ import annotations

import functools
import string
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import yaml

import exporters.contract.revscoring_features  # noqa: F401 - NLTK's offline data before revscoring.languages
from exporters.contract.card import read_card
from exporters.contract.errors import CardError, ExportError
from exporters.tree import word_vectors as wv
from exporters.tree.export import TreeExportOptions, export_tree
from exporters.tree.loading import from_object
from revscoring.datasources import revision_oriented
from revscoring.datasources.meta import mappers, vectorizers
from revscoring.dependencies import solve
from revscoring.features import FeatureVector, vectorize_values, wikitext
from revscoring.features.meta import aggregators
from revscoring.scoring.models import GradientBoosting
from tests.integration.families import KVWords
from transformers_svc.revscoring_svc import quality
from transformers_svc.revscoring_svc.word_vectors import WordVectorInputs, bucket, read_vocabulary, solve_names

LABELS = ["A", "B", "C"]
WORDS = mappers.lower_case(wikitext.revision.datasources.words)


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    from gensim.models import KeyedVectors  # imported here: seconds to import, only these tests need it

    rng = np.random.default_rng(3)
    words = ["istanbul", "alpha", "beta", "gamma", "she", "he", "line\u2028sep", "next\x85line", "form\x0cfeed"]
    words += ["".join(rng.choice(list(string.ascii_lowercase), size=6)) for _ in range(300)]
    words = list(dict.fromkeys(words))
    kv = KeyedVectors(vector_size=8)
    kv.add_vectors(words, rng.normal(0, 1, (len(words), 8)).astype(np.float32))
    path = tmp_path_factory.mktemp("kv") / "unit.kv"
    kv.save(str(path))
    return kv, path


def documents(kv, n: int = 120, seed: int = 5) -> list[tuple[str, list[str]]]:
    rng = np.random.default_rng(seed)
    keys = [k for k in kv.index_to_key if k.isalpha()]
    docs = [("", []), ("zzqx qqzv", []), ("[[ ]] {{ }} 1984 , .", []), ("İstanbul İSTANBUL she he", ["A"])]
    for _ in range(n):
        words = [keys[int(i)] for i in rng.integers(0, len(keys), size=int(rng.integers(0, 80)))]
        text = " ".join(w.capitalize() if rng.random() < 0.3 else w for w in words) + " [[Link|x]] {{T}}"
        labels = [l for l, on in zip(LABELS, rng.random(3) < 0.5) if on]
        docs.append((text, labels))
    return docs


def topic_features(kv, path, position: int) -> list:
    mean = aggregators.mean(vectorizers.word2vec(WORDS, KVWords(path, kv), name="unit.vectors"), vector=True,
                            name="unit.vectors_mean")
    female = aggregators.len(wikitext.revision.datasources.tokens_matching(r"\b(she|her)\b"))
    scalars = [female, wikitext.revision.chars, wikitext.revision.wikilinks]
    return scalars[:position] + [mean] + scalars[position:]


def values(features, text: str) -> list:
    return list(solve(features, cache={revision_oriented.revision.text: text}))


def train(features, docs) -> GradientBoosting:
    model = GradientBoosting(features, labels=LABELS, multilabel=True, version="0.1", n_estimators=15, max_depth=3,
                             random_state=0)
    model.train([(values(features, t), labels or ["A"]) for t, labels in docs])
    return model


@pytest.mark.parametrize("position", [0, 2, 3])
def test_the_mean_is_found_at_its_position_in_the_models_own_features(kv, position):
    model = train(topic_features(kv[0], kv[1], position), documents(kv[0], 40))
    layout = wv.layout_of(from_object(model, Path("m")))
    assert (layout.index, layout.column, layout.dim, layout.n_columns) == (position, position, 8, 11)
    assert layout.scalar_columns == tuple(c for c in range(11) if not position <= c < position + 8)
    assert str(layout.words) == "datasource.lower_case(<datasource.wikitext.revision.words>)"
    assert layout.keyed_vectors.index_to_key == kv[0].index_to_key


ENWIKI_KVS = None


def vectorize_words(words):  # drafttopic's shape: a module function reading a module global
    return vectorizers.word2vec.vectorize_words(ENWIKI_KVS, words)


def test_the_keyed_vectors_are_found_however_the_vectorizer_holds_them(kv, monkeypatch):
    monkeypatch.setitem(globals(), "ENWIKI_KVS", kv[0])
    for process in (vectorize_words, KVWords(kv[1]), functools.partial(vectorizers.word2vec.vectorize_words, kv[0])):
        found = wv.keyed_vectors_of(vectorizers.word2vec(WORDS, process, name="x"))
        assert found.index_to_key == kv[0].index_to_key
    with pytest.raises(ExportError, match="cannot tell which KeyedVectors"):
        wv.keyed_vectors_of(vectorizers.word2vec(WORDS, len, name="y"))


def test_other_vector_features_and_other_vectors_are_refused(kv, tmp_path):
    other = FeatureVector("feature_vector.other", lambda: [1.0, 2.0], depends_on=[], returns=float)
    with pytest.raises(ExportError, match="unsupported vector feature"):
        wv.layout_of(from_object(_fake_model([other], 2), tmp_path / "m"))
    model = train(topic_features(kv[0], kv[1], 0), documents(kv[0], 30))
    loaded = from_object(model, tmp_path / "m")
    loaded.n_features += 1  # as if the installed feature module loaded vectors of another width
    with pytest.raises(ExportError, match="not the ones the model was trained with"):
        wv.layout_of(loaded)


def _fake_model(features, width):
    model = GradientBoosting(features, labels=[True, False], version="0", n_estimators=2)
    X = np.random.default_rng(0).normal(size=(20, width))
    model.estimator.fit(X, X[:, 0] > 0)
    return model


def test_the_lookup_and_float64_mean_reproduce_revscorings_values(kv):
    """The row the graph rebuilds is revscoring's feature values as sklearn predicts on them
    (float32), for every document, the empty ones and those without a known word included."""
    features = topic_features(kv[0], kv[1], 2)
    model = train(features, documents(kv[0], 30))
    layout = wv.layout_of(from_object(model, Path("m")))
    session = ort.InferenceSession(wv.pooling_graph(layout).SerializeToString(), providers=["CPUExecutionProvider"])
    docs = documents(kv[0], 200, seed=9)
    vocabulary = {k: i for i, k in enumerate(kv[0].index_to_key)}
    solved = [values(layout.solve_list(features), t) for t, _ in docs]
    ids = wv.pad([[vocabulary[w] for w in row[2] if w in vocabulary] for row in solved], width=300)
    scalars = np.array([[v for j, v in enumerate(row) if j != 2] for row in solved], dtype=np.float32)
    got = session.run([wv.FEATURE_ROW], {wv.WORD_IDS: ids, "input": scalars})[0]
    expected = np.array([vectorize_values(values(features, t)) for t, _ in docs], dtype=np.float64).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - expected.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and (ulps == 0).mean() > 0.999
    assert np.all(got[:3, 2:10] == 0)  # no known word: revscoring's zero vector


def test_the_exported_graph_answers_as_scoring_model_score(kv, tmp_path):
    features = topic_features(kv[0], kv[1], 1)
    model = train(features, documents(kv[0], 60))
    path = tmp_path / "topic.model"
    with open(path, "wb") as handle:
        model.dump(handle)
    summary = export_tree(path, TreeExportOptions(name="enwiki-unittopic", repository=tmp_path / "repo",
                                                  progress=False))
    version = Path(summary["path"])
    card = read_card(version)
    assert card.word_vectors is not None and summary["parity"]["passed"]
    assert [t.name for t in card.inputs] == ["word_ids", "input"] and card.features[1] == card.word_vectors.feature
    inputs = WordVectorInputs(card.word_vectors, version)
    docs = documents(kv[0], 80, seed=11)
    solve_list = [f if i != 1 else WORDS for i, f in enumerate(features)]
    assert solve_names(card) == [str(f) for f in solve_list]
    ids, scalars = inputs.arrays([values(solve_list, t) for t, _ in docs])
    assert ids.shape[1] == bucket(max((ids >= 0).sum(axis=1))) and scalars.shape == (len(docs), 3)
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    served = session.run(["probabilities"], {"word_ids": ids, "input": scalars})[0]
    for row, (text, _) in zip(served, docs):
        expected = model.score(values(features, text))["probability"]
        assert np.max(np.abs(row - [expected[l] for l in LABELS])) <= 1e-5
    config = (tmp_path / "repo" / "enwiki-unittopic" / "config.pbtxt").read_text()
    assert 'name: "word_ids"' in config and "TYPE_INT64" in config


def test_the_vocabulary_survives_unusual_line_separators(kv, tmp_path):
    model = train(topic_features(kv[0], kv[1], 0), documents(kv[0], 30))
    layout = wv.layout_of(from_object(model, Path("m")))
    wv.write_files(layout, tmp_path)
    vocabulary = read_vocabulary(tmp_path / wv.VOCABULARY)
    assert list(vocabulary) == list(kv[0].index_to_key) and vocabulary["line\u2028sep"] == 6
    assert len((tmp_path / wv.VOCABULARY).read_text(encoding="utf-8").splitlines()) > len(vocabulary)
    assert np.array_equal(np.load(tmp_path / wv.VECTORS), kv[0].vectors)


def test_a_card_whose_vector_feature_moved_is_refused(kv, tmp_path):
    model = train(topic_features(kv[0], kv[1], 0), documents(kv[0], 30))
    path = tmp_path / "m.model"
    with open(path, "wb") as handle:
        model.dump(handle)
    version = Path(export_tree(path, TreeExportOptions(name="enwiki-x", repository=tmp_path / "r",
                                                       progress=False))["path"])
    card = yaml.safe_load((version / "model.yaml").read_text())
    card["word_vectors"]["feature_index"] = 1
    (version / "model.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(CardError, match="is not feature 1"):
        solve_names(read_card(version))


def test_quality_scales_and_the_weighted_sum():
    assert quality.weights_for(["B", "C", "FA", "GA", "Start", "Stub"])["FA"] == 5
    assert quality.weights_for(["e", "bd", "b", "a", "ba", "adq"])["adq"] == 5
    assert quality.weights_for(["OK", "attack", "spam", "vandalism"]) is None
    probability = {"Stub": 0.1, "Start": 0.2, "C": 0.3, "B": 0.2, "GA": 0.1, "FA": 0.1}
    assert quality.weighted_sum(probability, quality.weights_for(list(probability))) == pytest.approx(2.3)
    assert bucket(0) == bucket(16) == 16 and bucket(17) == 32 and bucket(1000) == 1024
