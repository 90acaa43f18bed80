"""What one decoding step sends and answers, apart from the transport (Triton's client, or
the generator entry's own code in a test) so the batcher needs neither."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exporters.seq2seq.search import Candidates


@dataclass
class StepRows:
    """Every row of one decoding step, in the batcher's order."""

    handle: np.ndarray
    beam: np.ndarray
    parent: np.ndarray
    token: np.ndarray
    position: np.ndarray
    top_k: int


@dataclass
class StepAnswer:
    ids: np.ndarray  # [rows, k]
    logits: np.ndarray  # [rows, k]
    logsumexp: np.ndarray  # [rows]

    def rows(self, start: int, count: int) -> Candidates:
        return Candidates(self.ids[start: start + count], self.logits[start: start + count],
                          self.logsumexp[start: start + count])
