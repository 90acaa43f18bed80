"""The typed model card: written by exporters, validated on every read, first-round cards upgraded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from exporters.contract.card import ModelCard, read_card, write_card
from exporters.contract.errors import CardError

DATA = Path(__file__).parent / "data"
SHIPPED = Path(__file__).resolve().parents[2] / "model_repository" / "enwiki-reverted" / "1"


def _version(tmp_path: Path, card_file: Path) -> Path:
    version = tmp_path / "model" / "1"
    version.mkdir(parents=True)
    shutil.copy(card_file, version / "model.yaml")
    return version


def test_the_shipped_card_reads_as_the_current_schema():
    card = read_card(SHIPPED)
    assert card.schema_version == 2 and card.family == "tree" and card.service == "revscoring"
    assert card.wiki_db == "enwiki" and card.model_version == "0.1.0"
    assert card.inputs[0].name == "input" and card.inputs[0].shape == [-1, 9]
    assert len(card.features) == 9 and card.parity.passed


def test_a_card_round_trips(tmp_path):
    card = read_card(SHIPPED)
    version = tmp_path / "1"
    version.mkdir()
    write_card(version, card)
    assert read_card(version) == card


def test_first_round_tree_cards_are_upgraded(tmp_path):
    card = read_card(_version(tmp_path, DATA / "v1-tree-card.yaml"))
    assert card.family == "tree" and card.service == "revscoring" and card.wiki_db == "enwiki"
    assert [t.model_dump() for t in card.inputs] == [{"name": "input", "datatype": "FP32", "shape": [-1, 9]}]
    assert card.source.name == "enwiki.reverted.gradient_boosting.model" and len(card.features) == 9


def test_first_round_transformer_cards_are_upgraded(tmp_path):
    card = read_card(_version(tmp_path, DATA / "v1-transformer-card.yaml"))
    assert card.family == "transformer" and card.service == "text-classification"
    assert [t.name for t in card.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert card.model_version == "1"  # the first round wrote none: the version folder's number
    assert card.transformer is not None and card.transformer.max_sequence_length == 128
    assert card.outputs[0].name == "logits" and card.outputs[0].shape == [-1, 2]


@pytest.mark.parametrize(("change", "needle"), [
    (lambda c: c.pop("parity"), "parity: Field required"),
    (lambda c: c.update(wiki="enwiki"), "wiki: Extra inputs are not permitted"),
    (lambda c: c.update(family="cnn"), "family"),
    (lambda c: c.update(schema_version=7), "schema 7 is not one this version reads"),
])
def test_a_bad_card_is_one_error_naming_the_file(tmp_path, change, needle):
    raw = yaml.safe_load((SHIPPED / "model.yaml").read_text())
    change(raw)
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "model.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CardError) as caught:
        read_card(version)
    assert str(version / "model.yaml") in str(caught.value) and needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_or_unreadable_card(tmp_path):
    with pytest.raises(CardError, match="no model card"):
        read_card(tmp_path)
    (tmp_path / "model.yaml").write_text("- just\n- a list\n")
    with pytest.raises(CardError, match="not a mapping"):
        read_card(tmp_path)


def test_every_field_a_reader_uses_is_declared():
    """Readers use attributes, so a field nobody writes cannot be read (pydantic refuses)."""
    declared = set(ModelCard.model_fields)
    assert {"wiki_db", "model_version", "service", "inputs", "outputs", "labels", "features"} <= declared
