"""The parity check and the verify-data reader, on their own."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import parity
from exporters.contract.errors import ExportError
from exporters.verify_data import read_verify_data


def test_parity_passes_within_tolerance_and_fails_beyond_it():
    ref = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert parity.require(parity.compare(ref, ref + 5e-6, 1e-5, "t")).passed
    result = parity.compare(ref, ref + 2e-5, 1e-5, "t")
    assert not result.passed
    with pytest.raises(ExportError, match="parity check failed"):
        parity.require(result)


def test_parity_fails_when_a_label_flips_even_within_tolerance():
    ref = np.array([[0.500001, 0.499999]])
    result = parity.compare(ref, np.array([[0.499999, 0.500001]]), 1e-5, "t")
    assert result.max_abs_diff <= 1e-5 and not result.labels_identical and not result.passed


def test_parity_multilabel_labels_by_column():
    ref = np.array([[0.9, 0.1, 0.7]])
    assert parity.compare(ref, ref, 1e-5, "t", multilabel=True).passed
    assert not parity.compare(ref, np.array([[0.9, 0.6, 0.7]]), 1.0, "t", multilabel=True).labels_identical


def test_parity_refuses_shape_mismatch_and_nan():
    with pytest.raises(ExportError, match="shape"):
        parity.compare(np.zeros((2, 2)), np.zeros((2, 3)), 1e-5, "t")
    with pytest.raises(ExportError, match="NaN"):
        parity.compare(np.zeros((1, 2)), np.array([[np.nan, 1.0]]), 1e-5, "t")


def test_verify_data_layouts(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,c\n1,2,3\n4,5,6\n")  # header skipped
    assert read_verify_data(plain, 3).tolist() == [[1, 2, 3], [4, 5, 6]]
    demo = tmp_path / "demo.tsv"
    demo.write_text("123\t1\tTrue\t0.5\tFalse\n")  # rev_id, 3 features, label
    assert read_verify_data(demo, 3, ["false", "true"]).tolist() == [[1, 1, 0.5]]
    with pytest.raises(ExportError, match="5 columns, but the model has 2 features"):
        read_verify_data(demo, 2, ["false", "true"])
    with pytest.raises(ExportError, match="not one of its labels"):
        read_verify_data(demo, 4, ["0", "1"])
    np.save(tmp_path / "x.npy", np.zeros((4, 3)))
    assert read_verify_data(tmp_path / "x.npy", 3).shape == (4, 3)
    with pytest.raises(ExportError, match="model has 5 features"):
        read_verify_data(tmp_path / "x.npy", 5)


def test_an_exact_tie_in_the_original_may_go_either_way():
    ref = np.array([[0.4, 0.4, 0.2], [0.5, 0.3, 0.2]])  # row 0: a random forest's tied vote
    exported = np.array([[0.39999998, 0.40000001, 0.2], [0.5, 0.3, 0.2]])
    assert parity.compare(ref, exported, 1e-5, "t").labels_identical
    flipped = np.array([[0.4, 0.4, 0.2], [0.3, 0.5, 0.2]])
    assert not parity.compare(ref, flipped, 1.0, "t").labels_identical
