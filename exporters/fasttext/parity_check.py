"""The served path (tokeniser + graph) against the fasttext package's `predict(text, k=-1)`.

Every label fastText returns is compared; its top label must be the served top label
exactly (ties broken as fastText breaks them, `rank_like_fasttext`). Hierarchical softmax
returns no label whose path score falls under log(1e-5): such labels must come out of the
graph below `PRUNED_BELOW` and are then left out of the difference, as fastText leaves them
out of its answer. Texts fastText predicts nothing for (no id at all) must encode to no id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnxruntime as ort
from fasttext.FastText import _FastText
from tqdm import tqdm

from exporters import parity
from exporters.contract.card import Parity
from exporters.contract.fasttext_ranking import rank_like_fasttext
from exporters.contract.fasttext_tokens import FastTextTokenizer, pad_batch
from exporters.fasttext.graph import INPUT, OUTPUT

PRUNED_BELOW = 2e-5  # hs leaves out labels under ~1.0002e-5 (the 1e-5 cut and rounding)
CHUNK = 32


@dataclass
class Reference:
    labels: list[str]  # fastText's answer, best first
    probabilities: list[float]


def load_fasttext(path: Path) -> _FastText:
    """The package's own model object (its `load_model` prints a warning for classifiers)."""
    return _FastText(model_path=str(path))


def fasttext_predict(model: _FastText, text: str) -> Reference:
    """`predict(text, k=-1)`. Its Python wrapper refuses a newline; the C++ reads the
    first line, which is what the raw binding does with a newline in the text."""
    if "\n" in text:
        pairs = model.f.predict(text + "\n", -1, 0.0, "strict")
        return Reference([label for _, label in pairs], [float(p) for p, _ in pairs])
    labels, probabilities = model.predict(text, k=-1)
    return Reference(list(labels), [float(p) for p in probabilities])


def run_graph(session: ort.InferenceSession, rows: Sequence[Sequence[int]], n_labels: int,
              progress: bool = False) -> np.ndarray:
    """Probabilities for every row, in length-sorted chunks (a chunk pads to its longest)."""
    out = np.zeros((len(rows), n_labels), np.float32)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    chunks = range(0, len(order), CHUNK)
    for start in tqdm(chunks, desc="parity", unit="chunk", disable=not progress, leave=False):
        picked = order[start:start + CHUNK]
        out[picked] = session.run([OUTPUT], {INPUT: pad_batch([rows[i] for i in picked])})[0]
    return out


def session_for(onnx_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def check(model_file: Path, onnx_bytes: bytes, tokenizer: FastTextTokenizer, texts: Sequence[str],
          tolerance: float, inputs: str, progress: bool = False) -> tuple[Parity, dict[str, Any]]:
    """(the card's parity result, details for the card's statistics)."""
    model = load_fasttext(model_file)
    index = {label: i for i, label in enumerate(tokenizer.labels)}
    rows = [tokenizer.encode(t) for t in texts]
    served = run_graph(session_for(onnx_bytes), rows, len(tokenizer.labels), progress)
    reference = np.array(served, dtype=np.float64, copy=True)
    returned = np.zeros(served.shape, dtype=bool)
    top_agree, ranking_identical, empty, bit_identical, problems = [], 0, 0, 0, []
    for i, (text, ids) in enumerate(zip(texts, rows, strict=True)):
        answer = fasttext_predict(model, text)
        if not ids or not answer.labels:
            empty += 1
            top_agree.append(not ids and not answer.labels)
            continue
        for label, p in zip(answer.labels, answer.probabilities, strict=True):
            j = index[label]
            reference[i, j], returned[i, j] = p, True
            bit_identical += int(np.float32(p) == served[i, j])
        left_out = ~returned[i] & (served[i] >= PRUNED_BELOW)
        reference[i, left_out] = 0.0  # fastText would have returned it: the difference shows
        ranked = [tokenizer.labels[j] for j, _ in rank_like_fasttext(served[i], push_order=tokenizer.push_order)]
        top_agree.append(ranked[0] == answer.labels[0])
        ranking_identical += int(ranked == answer.labels)
        if not top_agree[-1] and len(problems) < 3:
            problems.append(f"text {i}: fastText {answer.labels[0]}, served {ranked[0]}")
    result = parity.compare(reference, served, tolerance, inputs, check_labels=False)
    agree = np.asarray(top_agree, dtype=bool)
    result = result.model_copy(update={
        "labels_identical": bool(agree.all()), "label_agreement": float(agree.mean()) if agree.size else 1.0,
        "passed": result.passed and bool(agree.all())})
    details = {"texts": len(texts), "values_compared": int(returned.sum()), "values_bit_identical": bit_identical,
               "ranking_identical": ranking_identical, "no_prediction": empty,
               "max_abs_diff_returned": float(np.max(np.abs(reference - served)[returned], initial=0.0)),
               "top_label_mismatches": problems}
    return result, details
