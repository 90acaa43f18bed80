"""Names that cross a boundary (bucket keys, SHA512SUMS lines, flags) are checked in one place."""

from __future__ import annotations

import pytest

from exporters.contract.layout import parse_sha512sums, safe_relative_path, valid_model_name, valid_version

DIGEST = "a" * 128


@pytest.mark.parametrize("name", ["enwiki-reverted", "langid", "m", "bert.base_2", "A1"])
def test_good_model_names(name):
    assert valid_model_name(name)


@pytest.mark.parametrize("name", ["..", ".", "", ".hidden", "a/b", "a..b", "-x", "x" * 200, "m\n", "a b", "/abs"])
def test_bad_model_names(name):
    assert not valid_model_name(name)


@pytest.mark.parametrize(("name", "ok"), [("1", True), ("12", True), ("0", False), ("01", False), ("1a", False),
                                          ("..", False), ("", False)])
def test_versions(name, ok):
    assert valid_version(name) is ok


@pytest.mark.parametrize("path", ["model.onnx", "tokenizer/vocab.txt", "index/pages.json"])
def test_safe_relative_paths(path):
    assert safe_relative_path(path) is not None


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/./b", "", "a\\b", "a/\x00",
                                  "../../../../escape_rel.txt", "/tmp/escape_abs.txt", "a/"])
def test_unsafe_relative_paths(path):
    assert safe_relative_path(path) is None


def test_sha512sums_refuses_names_that_could_escape():
    assert parse_sha512sums(f"{DIGEST}  model.onnx\n{DIGEST}  tokenizer/vocab.txt\n") == {
        "model.onnx": DIGEST, "tokenizer/vocab.txt": DIGEST}
    for name in ("../../x", "/abs/path", "a/../b"):
        with pytest.raises(ValueError, match="unsafe path"):
            parse_sha512sums(f"{DIGEST}  {name}\n")
    with pytest.raises(ValueError, match="sha512sum format"):
        parse_sha512sums("zz  model.onnx\n")
