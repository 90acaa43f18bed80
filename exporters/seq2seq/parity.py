"""Parity of the served generation with HF `model.generate()`, and int8's agreement.

"Served" means the files of the staged entries run by the code Triton runs: the
generator's `Generator` (triton_model.py, copied byte for byte as the entry's model.py)
over decoder.onnx, the encoder graph, and the service's search (search.py). Checked: the
tokens of every hypothesis equal generate()'s for greedy and beam search (num_beams 2 and
4, the model's own max/min length and length penalty), and the first step's logits agree
within the tolerance (`exporters.parity.compare`, the one check every exporter runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort
import torch

from exporters import parity
from exporters.contract.card import Parity
from exporters.seq2seq.search import Candidates, Result, Settings, new_search
from exporters.seq2seq.triton_model import Generator, OrtEncoder, session_options

BEAMS = (1, 2, 4)


class LocalGenerator:
    """The staged graphs under the generator's own code, in this process (no Triton)."""

    def __init__(self, encoder: Path, decoder: Path, vocab_size: int, pad_id: int, threads: int = 1) -> None:
        session = ort.InferenceSession(str(decoder), session_options(threads), providers=["CPUExecutionProvider"])
        self.generator = Generator(session, OrtEncoder(str(encoder), threads), max_rows=8, pad_id=pad_id)
        self.vocab = vocab_size

    def generate(self, source: Sequence[int], settings: Settings, step_logits: list | None = None) -> Result:
        """One request: admitted, stepped to the end, released (as the service does)."""
        search = new_search(settings, self.vocab)
        ids = np.array([list(source)], np.int64)
        handle = int(self.generator.admit(ids, np.ones_like(ids), np.array([search.rows]))[0])
        try:
            while not search.done:
                rows = search.rows
                out = self.generator.step(np.full(rows, handle, np.int64), np.arange(rows), search.parents(),
                                          search.tokens(), np.full(rows, search.position(), np.int64),
                                          top_k=max(1, search.needed()), logits=step_logits is not None)
                if step_logits is not None:
                    step_logits.append(out["logits"])
                search.advance(Candidates(out["top_ids"], out["top_logits"], out["logsumexp"]))
        finally:
            self.generator.release(np.array([handle], np.int64))
        return search.result()


@dataclass
class ModeReport:
    num_beams: int
    inputs: int = 0
    equal: int = 0  # inputs whose every hypothesis equals the reference's
    agreement: float = 0.0  # position-wise agreement of the best hypothesis, averaged
    mismatches: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "greedy" if self.num_beams == 1 else f"beam{self.num_beams}"

    def add(self, index: int, reference: np.ndarray, ours: np.ndarray) -> None:
        self.inputs += 1
        if reference.shape == ours.shape and np.array_equal(reference, ours):
            self.equal += 1
        else:
            self.mismatches.append(index)
        n = max(reference.shape[-1], ours.shape[-1])
        a = np.pad(reference[0], (0, n - reference.shape[-1]), constant_values=-1)
        b = np.pad(ours[0], (0, n - ours.shape[-1]), constant_values=-2)
        self.agreement += (float((a == b).mean()) - self.agreement) / self.inputs

    def summary(self) -> str:
        return f"{self.equal}/{self.inputs}"


def hf_generate(model, source: Sequence[int], settings: Settings) -> np.ndarray:
    """What Lift Wing runs: generate() with num_return_sequences = num_beams.

    Greedy search ignores length_penalty and early_stopping; they are passed at their
    neutral values then, or generate() warns on stderr that the model's beam settings
    "may be ignored" (they are, whatever is passed)."""
    ids = torch.tensor([list(source)])
    beam = settings.num_beams > 1
    kwargs = dict(num_beams=settings.num_beams, num_return_sequences=settings.num_beams,
                  max_length=settings.max_length, min_length=settings.min_length,
                  length_penalty=settings.length_penalty if beam else 1.0,
                  early_stopping=settings.early_stopping if beam else False,
                  no_repeat_ngram_size=settings.no_repeat_ngram_size,
                  decoder_start_token_id=settings.decoder_start_token_id,
                  forced_bos_token_id=settings.forced_bos_token_id, forced_eos_token_id=settings.forced_eos_token_id)
    with torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs).numpy()


def first_step_logits(model, local: LocalGenerator, sources: Sequence[Sequence[int]],
                      settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The first decoding step's logits for every source: HF's forward and the graphs'."""
    ours, theirs = [], []
    one_step = settings.with_(num_beams=1, max_length=2, forced_bos_token_id=None, forced_eos_token_id=None,
                              min_length=0)
    for source in sources:
        ids = torch.tensor([list(source)])
        with torch.no_grad():
            theirs.append(model(input_ids=ids, attention_mask=torch.ones_like(ids),
                                decoder_input_ids=torch.tensor([[settings.decoder_start_token_id]])
                                ).logits[0, -1].numpy())
        logs: list[np.ndarray] = []
        local.generate(source, one_step, step_logits=logs)
        ours.append(logs[0][0])
    return np.stack(theirs), np.stack(ours)


def against_hf(model, local: LocalGenerator, sources: Sequence[Sequence[int]], settings: Settings,
               tolerance: float, beams: Sequence[int] = BEAMS) -> tuple[Parity, dict[int, ModeReport],
                                                                        dict[int, list[np.ndarray]]]:
    """Token parity per num_beams and first-step logits; the Parity passes only when every
    hypothesis of every input and mode is identical and the logits are within tolerance."""
    modes = {nb: ModeReport(nb) for nb in beams}
    ours_by_mode: dict[int, list[np.ndarray]] = {nb: [] for nb in beams}
    for nb in beams:
        for i, source in enumerate(sources):
            ours = local.generate(source, settings.with_(num_beams=nb)).sequences
            ours_by_mode[nb].append(ours)
            modes[nb].add(i, hf_generate(model, source, settings.with_(num_beams=nb)), ours)
    reference, exported = first_step_logits(model, local, sources, settings)
    modes_text = "/".join(m.label for m in modes.values())
    logits = parity.compare(reference, exported, tolerance,
                            f"{len(sources)} sample leads: tokens of {modes_text} vs model.generate(), "
                            f"first-step logits vs the HF forward")
    runs = [m for m in modes.values()]
    equal = sum(m.equal for m in runs)
    total = sum(m.inputs for m in runs)
    result = logits.model_copy(update={
        "labels_identical": equal == total and logits.labels_identical,
        "label_agreement": equal / total if total else 1.0,
        "passed": logits.passed and equal == total,
    })
    return result, modes, ours_by_mode


def against_reference(local: LocalGenerator, sources: Sequence[Sequence[int]], settings: Settings,
                      reference: dict[int, list[np.ndarray]]) -> dict[int, ModeReport]:
    """How often other graphs (int8) give the reference graphs' tokens, per num_beams."""
    modes = {nb: ModeReport(nb) for nb in reference}
    for nb, expected in reference.items():
        for i, (source, ref) in enumerate(zip(sources, expected)):
            modes[nb].add(i, ref, local.generate(source, settings.with_(num_beams=nb)).sequences)
    return modes
