"""Greedy and beam search in numpy, reproducing HF `generate()`, over top-k candidates.

Why here: the decoding step runs on Triton and answers, per row, its k best logits, their
ids and the row's log-sum-exp (graphs.py); the search runs in the caller (the
article-descriptions service, and the exporter's parity check), one state machine per
request (`GreedySearch`, `BeamSearch`) that says which tokens to feed, how many candidates
it needs (`needed`), and which cache rows to keep (`advance` -> parents).

It follows transformers 4.57.6 for batch size 1:
* greedy = `_sample` without sampling: processors on the raw logits, argmax (first of ties);
* beam search = the vectorised `_beam_search`: log_softmax, processors on the log-probs, plus
  the running beam scores, the top 2*num_beams continuations over all beams (ties: lower
  flat index), the best num_beams unfinished continue, finished ones (EOS or max_length)
  among the top num_beams enter the pool scored sum_logprobs / generated_len**length_penalty
  (with HF's -1e9 masking for a full pool under early_stopping=True and an unsatisfied
  early-stop heuristic), then `_check_early_stop_heuristic` and
  `_beam_search_has_unfinished_sequences` decide whether to go on; the pool comes back best
  first, padded with pad_token_id;
* processors in HF's order: NoRepeatNGram, MinLength, ForcedBOS, ForcedEOS.

Exact over candidates: processors only remove tokens (bans) or force one. A row's best
`keep` processed scores are among its raw top `keep + len(bans)`, so `needed` asks for that
(plus SLACK against ties made by float rounding when scores are shifted); a forced row's
only finite candidate is the forced token at log-prob 0; where HF's dense top-k would reach
-inf entries (forced rows), they are taken in flat-index order, as a dense sort does.
Scores are float32 throughout, as in HF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

NEG = np.float32(-1.0e9)  # HF's "impossible" beam score
PROMPT = 1  # decoder_prompt_len: generation starts from the decoder start token alone
SLACK = 2  # extra candidates per beam row: rounding can tie a candidate with the next one
_UNSUPPORTED_DEFAULTS = {"do_sample": False, "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0,
                         "bad_words_ids": None, "min_new_tokens": None, "suppress_tokens": None,
                         "begin_suppress_tokens": None, "encoder_no_repeat_ngram_size": 0,
                         "exponential_decay_length_penalty": None, "sequence_bias": None,
                         "renormalize_logits": False, "remove_invalid_values": False, "max_new_tokens": None,
                         "num_beam_groups": 1, "diversity_penalty": 0.0, "guidance_scale": None,
                         "constraints": None, "force_words_ids": None}


class UnsupportedSetting(ValueError):
    """A generation setting this search does not implement (refused, never ignored)."""


@dataclass(frozen=True)
class Settings:
    """The generation settings this search honours (from generation_config.json)."""

    max_length: int = 20
    min_length: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    no_repeat_ngram_size: int = 0
    decoder_start_token_id: int = 2
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = (2,)
    pad_token_id: int = 1

    @classmethod
    def from_generation_config(cls, config: Mapping[str, Any] | Path | str, max_position_embeddings: int | None = None,
                               **overrides: Any) -> "Settings":
        """From a generation config (dict or file) plus what a caller passes to generate().

        HF quirk kept on purpose: when max_length is *not* passed to generate() and the
        config's is the library default 20, generate() allows 20 new tokens, i.e.
        max_length 21 for an encoder-decoder. Lift Wing passes max_length=20 explicitly."""
        if isinstance(config, (str, Path)):
            config = json.loads(Path(config).read_text())
        merged = {**config, **overrides}
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            value = merged.get(key)
            if value is not None and value != default:
                raise UnsupportedSetting(f"generation setting {key}={value!r} is not supported")
        if merged.get("num_return_sequences") not in (None, 1, merged.get("num_beams")):
            raise UnsupportedSetting("num_return_sequences other than num_beams is not supported")
        eos = merged.get("eos_token_id", 2)
        forced_eos = merged.get("forced_eos_token_id")
        if isinstance(forced_eos, (list, tuple)):
            if len(forced_eos) != 1:
                raise UnsupportedSetting("several forced_eos_token_id are not supported")
            forced_eos = forced_eos[0]
        max_length = int(merged.get("max_length", 20))
        if "max_length" not in overrides and max_length == 20:  # `_prepare_generated_length`
            max_length = min(21, max_position_embeddings or 21)
        start = merged.get("decoder_start_token_id")
        if start is None:
            raise UnsupportedSetting("the generation config has no decoder_start_token_id")
        return cls(
            max_length=max_length, min_length=int(merged.get("min_length", 0) or 0),
            num_beams=int(merged.get("num_beams", 1) or 1), length_penalty=float(merged.get("length_penalty", 1.0)),
            early_stopping=merged.get("early_stopping", False),
            no_repeat_ngram_size=int(merged.get("no_repeat_ngram_size", 0) or 0),
            decoder_start_token_id=int(start), forced_bos_token_id=merged.get("forced_bos_token_id"),
            forced_eos_token_id=forced_eos,
            eos_token_ids=tuple(int(e) for e in eos) if isinstance(eos, (list, tuple)) else (int(eos),),
            pad_token_id=int(merged.get("pad_token_id", 1)),
        )

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


@dataclass
class Candidates:
    """One request's rows of a decoding step's answer (graphs.DECODER_OUTPUTS)."""

    ids: np.ndarray  # [rows, k] int64, best first, ties: lower id first
    logits: np.ndarray  # [rows, k] float32
    logsumexp: np.ndarray  # [rows] float32: log(sum(exp(logits - max))) over the vocabulary


@dataclass
class Result:
    """Hypotheses best first, padded with pad_token_id to a common length (HF's layout)."""

    sequences: np.ndarray  # [n, length] int64, starting with the decoder start token
    scores: np.ndarray  # [n] float32: length-penalised beam scores (greedy: empty)
    lengths: np.ndarray  # [n] real length of each hypothesis

    def token_lists(self) -> list[list[int]]:
        return [row[:length].tolist() for row, length in zip(self.sequences, self.lengths)]


def banned_ngram_tokens(row: list[int], ngram_size: int) -> set[int]:
    """NoRepeatNGramLogitsProcessor (fairseq's definition): tokens that would repeat an n-gram."""
    cur_len = len(row)
    if ngram_size <= 0 or cur_len + 1 < ngram_size:
        return set()
    seen: dict[tuple[int, ...], set[int]] = {}
    for ngram in zip(*[row[i:] for i in range(ngram_size)]):
        seen.setdefault(tuple(ngram[:-1]), set()).add(ngram[-1])
    return seen.get(tuple(row[cur_len + 1 - ngram_size:]), set())


class _Search:
    """What both searches share: the processors' bans and forced token for this step."""

    rows: int
    done: bool
    cur_len: int

    def __init__(self, settings: Settings, vocab_size: int) -> None:
        self.s, self.vocab = settings, vocab_size
        self._bans: list[set[int]] | None = None

    def sequences_so_far(self) -> list[list[int]]:
        raise NotImplementedError

    def forced(self) -> int | None:
        """ForcedBOS at the first step, ForcedEOS at the last (it runs after, so it wins)."""
        forced = None
        if self.s.forced_bos_token_id is not None and self.cur_len == 1:
            forced = int(self.s.forced_bos_token_id)
        if self.s.forced_eos_token_id is not None and self.cur_len == self.s.max_length - 1:
            forced = int(self.s.forced_eos_token_id)
        return forced

    def bans(self) -> list[set[int]]:
        """Per row, the tokens NoRepeatNGram and MinLength set to -inf at this step."""
        if self._bans is None:
            eos = set(self.s.eos_token_ids) if self.s.min_length > 0 and self.cur_len < self.s.min_length else set()
            self._bans = [banned_ngram_tokens(row, self.s.no_repeat_ngram_size) | eos
                          for row in self.sequences_so_far()]
        return self._bans

    def position(self) -> int:
        """Index of the fed token in the decoder sequence (its cache slot)."""
        return self.cur_len - 1


class GreedySearch(_Search):
    """`_sample` with do_sample=False, batch size 1."""

    rows = 1

    def __init__(self, settings: Settings, vocab_size: int) -> None:
        super().__init__(settings, vocab_size)
        self.sequence = [settings.decoder_start_token_id]
        self.cur_len = 1
        self.done = False

    def sequences_so_far(self) -> list[list[int]]:
        return [self.sequence]

    def tokens(self) -> np.ndarray:
        return np.array(self.sequence[-1:], dtype=np.int64)

    def parents(self) -> np.ndarray:
        return np.zeros(1, np.int64)

    def needed(self) -> int:
        return 0 if self.forced() is not None else 1 + len(self.bans()[0])

    def advance(self, candidates: Candidates) -> None:
        token = self.forced()
        if token is None:
            banned = self.bans()[0]
            token = next((int(t) for t in candidates.ids[0] if int(t) not in banned), None)
            if token is None:
                raise RuntimeError("too few candidates for the tokens banned at this step")
        self.sequence.append(token)
        self.cur_len += 1
        self._bans = None
        self.done = token in self.s.eos_token_ids or self.cur_len >= self.s.max_length

    def result(self) -> Result:
        return Result(np.array([self.sequence], dtype=np.int64), np.zeros(0, np.float32),
                      np.array([len(self.sequence)]))


class BeamSearch(_Search):
    """`_beam_search` with do_sample=False, batch size 1 (variable names follow HF's)."""

    def __init__(self, settings: Settings, vocab_size: int) -> None:
        super().__init__(settings, vocab_size)
        if settings.num_beams < 2:
            raise ValueError("BeamSearch needs num_beams >= 2; use GreedySearch")
        self.rows = nb = settings.num_beams
        fill = settings.pad_token_id if settings.pad_token_id else settings.eos_token_ids[0]  # HF: pad or eos
        self.running = np.full((nb, settings.max_length), fill, dtype=np.int64)
        self.running[:, 0] = settings.decoder_start_token_id
        self.sequences = self.running.copy()
        self.running_scores = np.zeros(nb, np.float32)
        self.running_scores[1:] = NEG
        self.beam_scores = np.full(nb, NEG, np.float32)
        self.lengths = np.zeros(nb, np.int64)  # length of each pooled hypothesis
        self.is_finished = np.zeros(nb, bool)
        self.early_unsatisfied = True
        self.cur_len = 1
        self.keep = max(2, 1 + len(settings.eos_token_ids)) * nb
        self.done = False
        self._parents = np.arange(nb, dtype=np.int64)

    def sequences_so_far(self) -> list[list[int]]:
        return self.running[:, : self.cur_len].tolist()

    def tokens(self) -> np.ndarray:
        return self.running[:, self.cur_len - 1].copy()

    def parents(self) -> np.ndarray:
        """For each row, the row whose cache it continues (the last step's reordering)."""
        return self._parents

    def needed(self) -> int:
        return 0 if self.forced() is not None else self.keep + max(len(b) for b in self.bans()) + SLACK

    def _processed(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """Finite (flat index, running score + processed log-prob) pairs, any order."""
        nb, vocab = self.rows, self.vocab
        forced = self.forced()
        if forced is not None:  # every other token is -inf: only the forced one, at log-prob 0
            flat = np.arange(nb, dtype=np.int64) * vocab + forced
            return flat, (np.zeros(nb, np.float32) + self.running_scores).astype(np.float32)
        top = candidates.logits.astype(np.float32, copy=False)
        log_probs = (top - top[:, :1]) - candidates.logsumexp.astype(np.float32)[:, None]
        scores = log_probs + self.running_scores[:, None]
        flat = np.arange(nb, dtype=np.int64)[:, None] * vocab + candidates.ids.astype(np.int64)
        keep = np.ones(flat.shape, bool)
        for row, banned in enumerate(self.bans()):
            if banned:
                keep[row] = ~np.isin(candidates.ids[row], list(banned))
        return flat[keep], scores[keep].astype(np.float32)

    def _top(self, flat: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best (score desc, flat index asc), -inf entries in flat order after them."""
        order = np.lexsort((flat, -scores))[:k]
        flat, scores = flat[order], scores[order]
        if len(flat) < k:
            taken, fill, f = set(flat.tolist()), [], 0
            while len(flat) + len(fill) < k:
                if f not in taken:
                    fill.append(f)
                f += 1
            flat = np.concatenate([flat, np.array(fill, np.int64)])
            scores = np.concatenate([scores, np.full(len(fill), -np.inf, np.float32)])
        return flat, scores

    def advance(self, candidates: Candidates) -> np.ndarray:
        s, nb, cur_len, vocab = self.s, self.rows, self.cur_len, self.vocab
        # c. top-K continuations over all beams
        top, top_scores = self._top(*self._processed(candidates), self.keep)
        top_beams, top_ids = top // vocab, top % vocab
        top_seqs = self.running[top_beams]
        top_seqs[:, cur_len] = top_ids

        # d. which of them hit a stopping criterion (MaxLength, EOS)
        hits = np.isin(top_ids, s.eos_token_ids) | (cur_len + 1 >= s.max_length)

        # e. the best num_beams unfinished continue
        running_scores = top_scores + hits.astype(np.float32) * NEG
        nxt = np.lexsort((np.arange(self.keep), -running_scores))[:nb]
        self.running = top_seqs[nxt]
        self.running_scores = running_scores[nxt].astype(np.float32)
        self._parents = top_beams[nxt].astype(np.int64)

        # f. finished ones among the top num_beams join the pool if good enough
        just_finished = hits & (np.arange(self.keep) < nb)
        pooled = top_scores / np.float32((cur_len + 1 - PROMPT) ** s.length_penalty)
        full = bool(self.is_finished.all()) and s.early_stopping is True
        pooled = pooled + np.float32(full) * NEG
        pooled = pooled + np.float32(not self.early_unsatisfied) * NEG
        pooled = pooled + (~just_finished).astype(np.float32) * NEG
        merged_scores = np.concatenate([self.beam_scores, pooled.astype(np.float32)])
        best = np.lexsort((np.arange(len(merged_scores)), -merged_scores))[:nb]
        self.sequences = np.concatenate([self.sequences, top_seqs])[best]
        self.beam_scores = merged_scores[best]
        self.lengths = np.concatenate([self.lengths, np.full(self.keep, cur_len + 1)])[best]
        self.is_finished = np.concatenate([self.is_finished, just_finished])[best]

        # g. stopping condition
        self.cur_len = cur_len = cur_len + 1
        self._bans = None
        if s.early_stopping == "never" and s.length_penalty > 0.0:
            best_length = s.max_length - PROMPT
        else:
            best_length = cur_len - PROMPT
        best_running = self.running_scores[0] / np.float32(best_length ** s.length_penalty)
        worst_finished = np.where(self.is_finished, self.beam_scores.min(), NEG)
        self.early_unsatisfied = self.early_unsatisfied and bool(np.any(best_running > worst_finished))
        open_beam = not (bool(self.is_finished.all()) and s.early_stopping is True)
        self.done = not (self.early_unsatisfied and open_beam and not bool(hits.all()))
        return self._parents

    def result(self) -> Result:
        length = int(self.lengths.max())
        return Result(self.sequences[:, :length].copy(), self.beam_scores.copy(), self.lengths.copy())


Search = GreedySearch | BeamSearch


def new_search(settings: Settings, vocab_size: int) -> Search:
    return GreedySearch(settings, vocab_size) if settings.num_beams == 1 else BeamSearch(settings, vocab_size)
