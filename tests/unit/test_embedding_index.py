"""The related-articles index without servers: lead paragraphs, the three FAISS kinds, the
files written beside a model version (and its SHA512SUMS), and refusals on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exporters.contract.card import read_card
from exporters.contract.errors import CardError
from exporters.contract.layout import parse_sha512sums, staged_version, verify_version
from transformers_svc.embedding_svc.index import (INDEX, MANIFEST, PAGES, VECTORS, IndexBuildError, IndexMismatch,
                                                  Manifest, load_index, make_index, normalise_title, write_index)
from transformers_svc.embedding_svc.pages import Page, lead_paragraph, page_text

SHIPPED_CARD = Path(__file__).resolve().parents[2] / "model_repository" / "enwiki-reverted" / "1"
SHA = "ab" * 64


def test_the_lead_paragraph_is_prose_without_markup():
    wikitext = ("{{Infobox planet |name=Mars}}\n[[File:Mars.jpg|thumb|The red planet]]\n"
                "'''Mars''' is the fourth [[planet]] from the [[Sun|sun]].<ref>{{cite web |title=NASA}}</ref> "
                "It has two moons.[[Category:Planets]]\n\nA second paragraph.\n\n== Orbit ==\nBody text.\n")
    assert lead_paragraph(wikitext) == "Mars is the fourth planet from the sun. It has two moons."
    assert lead_paragraph("== Only a heading ==\nText.") == ""
    assert page_text("Mars", "== History ==\nx") == "Mars"
    assert page_text("Mars", "'''Mars''' is red.") == "Mars\nMars is red."


def test_titles_are_spelled_as_mediawiki_spells_them():
    assert normalise_title("penalty_kick") == "Penalty kick"
    assert normalise_title("  Solar   eclipse ") == "Solar eclipse"
    assert normalise_title("sautéing") == "Sautéing"


def _clustered(count: int = 240, dimension: int = 16, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, dimension))
    vectors = centres[np.arange(count) % 6] + 0.3 * rng.normal(size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _version(tmp_path: Path) -> Path:
    """A model version folder, published the way exporters publish one."""
    with staged_version(tmp_path / "repo", "emb", 1) as (folder, _):
        (folder / "model.onnx").write_bytes(b"not really a model")
    return tmp_path / "repo" / "emb" / "1"


def _manifest(vectors: np.ndarray, kind: str, params: dict[str, int], version: str = "1") -> Manifest:
    return Manifest(model="emb", model_version=version, model_file="model.onnx", model_sha512=SHA,
                    wiki="http://127.0.0.1:1/api.php", pages=len(vectors), created="2026-01-01T00:00:00+00:00",
                    kind=kind, dimension=vectors.shape[1], params=params, build_seconds=0.1, faiss="test")


def _card(version: str = "1"):
    return read_card(SHIPPED_CARD).model_copy(update={"model_version": version})


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_an_index_round_trips_and_answers_the_exact_neighbours(tmp_path, kind):
    vectors = _clustered()
    pages = [Page(1000 + i, f"Page {i}", f"text {i}") for i in range(len(vectors))]
    index, params = make_index(vectors, kind)
    version = _version(tmp_path)
    write_index(version, pages, vectors, _manifest(vectors, kind, params), index)
    loaded = load_index(version, _card(), "emb", SHA)
    assert loaded is not None and len(loaded) == len(pages)
    exact = vectors @ vectors.T
    for seed in (0, 7, 100):
        found = loaded.related(seed, 5)
        want = [int(j) for j in np.argsort(-exact[seed]) if j != seed][:5]
        assert [r.title for r in found] == [f"Page {j}" for j in want]
        assert [r.score for r in found] == pytest.approx([float(exact[seed, j]) for j in want], abs=1e-5)
    assert loaded.position("page_7") == 7 and loaded.position("No such page") is None


def test_the_index_is_listed_in_the_versions_sha512sums_and_replaced_whole(tmp_path):
    vectors = _clustered(40)
    pages = [Page(i, f"P{i}", "") for i in range(40)]
    version = _version(tmp_path)
    for kind in ("flat", "hnsw"):  # a rebuild replaces the folder, leaving nothing behind
        index, params = make_index(vectors, kind)
        write_index(version, pages, vectors, _manifest(vectors, kind, params), index)
    assert verify_version(version) == []
    listed = set(parse_sha512sums((version / "SHA512SUMS").read_text()))
    assert {f"{INDEX}/{MANIFEST}", f"{INDEX}/{VECTORS}", f"{INDEX}/{PAGES}", "model.onnx"} <= listed
    assert sorted(p.name for p in version.iterdir()) == ["SHA512SUMS", INDEX, "model.onnx"]
    assert json.loads((version / INDEX / MANIFEST).read_text())["kind"] == "hnsw"


def test_an_index_of_another_model_version_or_file_is_refused(tmp_path):
    vectors = _clustered(30)
    version = _version(tmp_path)
    index, params = make_index(vectors, "flat")
    write_index(version, [Page(i, f"P{i}", "") for i in range(30)], vectors, _manifest(vectors, "flat", params), index)
    with pytest.raises(IndexMismatch, match="built with emb version 1, not emb version 2"):
        load_index(version, _card("2"), "emb", SHA)
    with pytest.raises(IndexMismatch, match="another model.onnx"):
        load_index(version, _card(), "emb", "cd" * 64)
    with pytest.raises(IndexMismatch, match="built with emb version 1, not other"):
        load_index(version, _card(), "other", SHA)


def test_a_damaged_index_is_one_clear_error_and_no_index_is_none(tmp_path):
    version = _version(tmp_path)
    assert load_index(version, _card(), "emb", SHA) is None
    vectors = _clustered(30)
    index, params = make_index(vectors, "flat")
    write_index(version, [Page(i, f"P{i}", "") for i in range(30)], vectors, _manifest(vectors, "flat", params), index)
    (version / INDEX / PAGES).write_text(json.dumps([[1, "P1"]]))
    with pytest.raises(CardError, match="30 vectors of 16 dims for 1 pages"):
        load_index(version, _card(), "emb", SHA)
    (version / INDEX / PAGES).write_text(json.dumps({"not": "a list"}))
    with pytest.raises(CardError, match="expected a list"):
        load_index(version, _card(), "emb", SHA)
    (version / INDEX / MANIFEST).write_text("{}")
    with pytest.raises(CardError, match="not a related-articles index manifest"):
        load_index(version, _card(), "emb", SHA)


def test_an_unknown_index_kind_is_refused():
    with pytest.raises(IndexBuildError, match="unknown index kind"):
        make_index(_clustered(10), "lsh")
