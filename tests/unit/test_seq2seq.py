"""Generation for article-descriptions without servers: the search against HF generate(),
the generator entry's own code (exporters/seq2seq/triton_model.py) run in this process, and
the service's batcher over it; the lead extraction on the fixture dump."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Sequence

import numpy as np
import pytest
import torch

from exporters.seq2seq import graphs
from exporters.seq2seq.loading import base_settings, load, parity_sources
from exporters.seq2seq.parity import LocalGenerator, hf_generate
from exporters.seq2seq.sample_text import FIXTURE_LEADS
from exporters.seq2seq.search import Candidates, Settings, UnsupportedSetting, banned_ngram_tokens
from exporters.seq2seq.sources import encode_text, join_segments, language_codes
from exporters.seq2seq.synthetic import EOS, build_mbart
from exporters.seq2seq.triton_model import RequestError, padded
from lwt.stack.wiki import FIXTURES
from transformers_svc.descriptions_svc.batcher import Batcher, Overloaded
from transformers_svc.descriptions_svc.steps import StepAnswer, StepRows
from transformers_svc.descriptions_svc.leads import lead_paragraph


# --- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny synthetic mBART, its two graphs, and the HF model (one thread: tiny calls)."""
    torch.set_num_threads(1)
    folder = build_mbart(tmp_path_factory.mktemp("tiny") / "model", "tiny")
    model, tokenizer, generation = load(folder)
    out = tmp_path_factory.mktemp("graphs")
    spec = graphs.export_graphs(model, out / "encoder.onnx", out / "decoder.onnx")
    settings = base_settings(generation, model.config)
    sources = parity_sources(tokenizer, language_codes(tokenizer), 26, EOS)
    return {"model": model, "tokenizer": tokenizer, "spec": spec, "settings": settings, "sources": sources,
            "encoder": out / "encoder.onnx", "decoder": out / "decoder.onnx"}


@pytest.fixture
def local(tiny) -> LocalGenerator:
    return LocalGenerator(tiny["encoder"], tiny["decoder"], tiny["spec"].vocab_size, 1)


class InProcess:
    """The batcher's three calls on the generator entry's own code, without Triton's transport."""

    def __init__(self, local: LocalGenerator) -> None:
        self.generator = local.generator
        self.active_rows = 0
        self.steps: list[int] = []  # rows per step call

    async def admit(self, sources: Sequence[Sequence[int]], beams: Sequence[int], pad_id: int,
                    release: Sequence[int] = ()) -> list[int]:
        self.generator.release(np.array(list(release), np.int64))
        ids = np.full((len(sources), max(len(s) for s in sources)), pad_id, np.int64)
        mask = np.zeros_like(ids)
        for i, source in enumerate(sources):
            ids[i, : len(source)], mask[i, : len(source)] = source, 1
        handles = self.generator.admit(ids, mask, np.array(list(beams), np.int64))
        self.active_rows = self.generator.n
        return handles.tolist()

    async def step(self, rows: StepRows, release: Sequence[int] = ()) -> StepAnswer:
        self.generator.release(np.array(list(release), np.int64))
        self.steps.append(len(rows.handle))
        out = self.generator.step(rows.handle, rows.beam, rows.parent, rows.token, rows.position, rows.top_k)
        self.active_rows = self.generator.n
        await asyncio.sleep(0)  # a network call yields to the event loop; so does this
        return StepAnswer(out["top_ids"], out["top_logits"], out["logsumexp"])

    async def release(self, handles: Sequence[int]) -> None:
        self.generator.release(np.array(list(handles), np.int64))
        self.active_rows = self.generator.n


def batcher_over(local: LocalGenerator, tiny, **limits) -> tuple[Batcher, InProcess]:
    client = InProcess(local)
    options = {"max_rows": 16, "max_queue": 16, "queue_timeout": 60.0, "encode_batch": 8, **limits}
    return Batcher(client, tiny["spec"].vocab_size, 1, **options), client


# --- what the service reads -------------------------------------------------------------------------------
def test_fixture_leads_are_what_the_service_extracts():
    ns = {"m": "http://www.mediawiki.org/xml/export-0.11/"}
    root = ET.parse(FIXTURES / "descriptions.xml").getroot()
    leads = {p.findtext("m:title", namespaces=ns): lead_paragraph(p.findtext("m:revision/m:text", namespaces=ns))
             for p in root.findall("m:page", ns)}
    for title, (_, lead) in FIXTURE_LEADS.items():
        assert leads[title] == lead, title
    assert leads["Untitled stub"] == ""


def test_sources_are_laid_out_and_cut_whole(tiny):
    tokenizer = tiny["tokenizer"]
    en, de = tokenizer.convert_tokens_to_ids("en_XX"), tokenizer.convert_tokens_to_ids("de_DE")
    suffix = encode_text(tokenizer, "Kyoto is a city in Japan.", en, "suffix", EOS, 100)
    prefix = encode_text(tokenizer, "Kyoto is a city in Japan.", en, "prefix", EOS, 100)
    assert suffix[-2:] == [EOS, en] and prefix[0] == en and prefix[-1] == EOS and len(prefix) == len(suffix)
    short = encode_text(tokenizer, "Kyoto is a city in Japan.", en, "suffix", EOS, 4)
    assert len(short) == 4 and short[-2:] == [EOS, en]
    other = encode_text(tokenizer, "Ulm ist eine Stadt.", de, "suffix", EOS, 100)
    assert join_segments([suffix, other], 1000) == suffix + other
    assert join_segments([suffix, other], len(suffix) + 1) == suffix  # the second does not fit: left out whole


def test_settings_refuse_what_the_search_does_not_do(tiny):
    generation = {"decoder_start_token_id": 5, "max_length": 20}
    assert Settings.from_generation_config(generation).max_length == 21  # HF's quirk when not passed
    assert Settings.from_generation_config(generation, max_length=20).max_length == 20
    for bad in ({"do_sample": True}, {"repetition_penalty": 1.3}, {"num_beam_groups": 2}):
        with pytest.raises(UnsupportedSetting):
            Settings.from_generation_config({**generation, **bad})


def test_ngram_bans_follow_fairseq():
    assert banned_ngram_tokens([5, 6, 7, 5], 2) == {6}
    assert banned_ngram_tokens([5, 6], 3) == set()


# --- the search over the graphs against HF generate() --------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {},  # the model's own settings: max_length 20, min_length 2, length_penalty 2, early stopping, forced EOS
    # mBART-50's convention: start with </s>, force the language code; no repeated trigrams
    {"decoder_start_token_id": EOS, "forced_bos_token_id": "en_XX", "no_repeat_ngram_size": 3,
     "early_stopping": False, "length_penalty": 1.0},
    {"early_stopping": "never", "min_length": 6, "max_length": 12, "no_repeat_ngram_size": 2},
    {"early_stopping": False, "length_penalty": -0.5, "forced_eos_token_id": None, "max_length": 16},
], ids=["model-settings", "mbart50-forced-bos-ngram", "never-minlen-ngram2", "negative-penalty-no-forced-eos"])
def test_tokens_equal_hf_generate(tiny, local, overrides):
    if overrides.get("forced_bos_token_id") == "en_XX":
        overrides = {**overrides, "forced_bos_token_id": tiny["tokenizer"].convert_tokens_to_ids("en_XX")}
    settings = tiny["settings"].with_(**overrides)
    for num_beams in (1, 2, 4):
        for source in tiny["sources"][::3]:
            ours = local.generate(source, settings.with_(num_beams=num_beams)).sequences
            assert np.array_equal(hf_generate(tiny["model"], source, settings.with_(num_beams=num_beams)), ours), \
                (overrides, num_beams, source)


def test_beam_hypotheses_come_best_first(tiny, local):
    result = local.generate(tiny["sources"][3], tiny["settings"].with_(num_beams=4))
    assert result.sequences.shape[0] == 4 and np.all(np.diff(result.scores) <= 0)


# --- the generator entry's state --------------------------------------------------------------------------
def test_a_step_over_some_rows_equals_a_step_over_all(tiny, local):
    """Two callers' rows (gathered copies) give bitwise what one call over every row gives."""
    g = local.generator
    sources = [tiny["sources"][0], tiny["sources"][5]]
    start = tiny["settings"].decoder_start_token_id
    outs = {}
    for split in (False, True):
        handles = [int(g.admit(np.array([s]), np.ones((1, len(s)), np.int64), np.array([2]))[0]) for s in sources]
        rows = dict(handle=np.repeat(handles, 2), beam=np.tile([0, 1], 2), parent=np.tile([0, 1], 2),
                    token=np.full(4, start), position=np.zeros(4, np.int64))
        if split:
            parts = [g.step(*(v[i * 2: i * 2 + 2] for v in rows.values()), top_k=5) for i in range(2)]
            outs[split] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            outs[split] = g.step(*rows.values(), top_k=5)
        g.release(np.array(handles))
    for key in ("top_ids", "top_logits", "logsumexp"):
        assert np.array_equal(outs[False][key], outs[True][key]), key
    assert g.n == 0


def test_the_generator_refuses_bad_calls(tiny, local):
    g = local.generator
    source = np.array([tiny["sources"][0]])
    with pytest.raises(RequestError):
        g.admit(source, np.ones_like(source), np.array([g.max_rows + 1]))  # more rows than it has
    holes = np.ones_like(source)
    holes[0, 1] = 0
    with pytest.raises(RequestError):
        g.admit(source, holes, np.array([1]))  # not right padding
    handle = int(g.admit(source, np.ones_like(source), np.array([2]))[0])
    with pytest.raises(RequestError):  # one beam of two
        g.step(np.array([handle]), np.array([0]), np.array([0]), np.array([5]), np.array([0]), 3)
    g.release(np.array([handle]))
    with pytest.raises(RequestError, match="unknown handle"):
        g.step(np.array([handle, handle]), np.array([0, 1]), np.array([0, 0]), np.array([5, 5]), np.array([0, 0]), 3)
    assert g.n == 0 and g.src == padded(1)


# --- the batcher over the generator ------------------------------------------------------------------------
async def _staggered(batcher: Batcher, tiny, plan):
    """Requests (source index, join after this many steps, num_beams), candidates traced."""
    traces: dict[int, list[Candidates]] = {i: [] for i, _, _ in plan}

    async def one(i: int, after: int, num_beams: int):
        while batcher.stats.steps < after:  # joins a running batch between two steps
            await asyncio.sleep(0)
        return await batcher.generate(tiny["sources"][i], tiny["settings"].with_(num_beams=num_beams),
                                      trace=traces[i])

    try:
        results = await asyncio.gather(*[one(*p) for p in plan])
    finally:
        await batcher.close()
    return dict(zip([i for i, _, _ in plan], results)), traces


@pytest.mark.parametrize("num_beams", [1, 2, 4])
def test_batched_requests_equal_single_requests_bitwise(tiny, local, num_beams):
    """Sources of 8 to 33 tokens joining at steps 0, 0, 1, 3 and 6 (one grows the source
    capacity from 32 to 64 under running requests): tokens and every step's candidates,
    log-sum-exp included, are bitwise those of each request alone."""
    lengths = {i: len(s) for i, s in enumerate(tiny["sources"])}
    longest = max(lengths, key=lengths.get)
    shortest = min(lengths, key=lengths.get)
    plan = [(shortest, 0, num_beams), (0, 0, num_beams), (longest, 1, num_beams), (7, 3, num_beams),
            (12, 6, num_beams)]
    batcher, client = batcher_over(local, tiny)
    results, traces = asyncio.run(_staggered(batcher, tiny, plan))
    assert max(client.steps) > num_beams  # requests really shared steps
    for i, _, _ in plan:
        alone, alone_traces = asyncio.run(_staggered(batcher_over(local, tiny)[0], tiny, [(i, 0, num_beams)]))
        assert np.array_equal(alone[i].sequences, results[i].sequences), i
        assert len(alone_traces[i]) == len(traces[i])
        for a, b in zip(alone_traces[i], traces[i]):
            k = min(a.ids.shape[1], b.ids.shape[1])  # a step's k is the batch's largest need
            assert np.array_equal(a.ids[:, :k], b.ids[:, :k]) and np.array_equal(a.logits[:, :k], b.logits[:, :k])
            assert np.array_equal(a.logsumexp, b.logsumexp)
    assert local.generator.n == 0


def test_mixed_beam_widths_share_steps(tiny, local):
    batcher, client = batcher_over(local, tiny)
    plan = [(24, 0, 1), (6, 0, 4), (0, 0, 2), (25, 2, 2)]
    results, _ = asyncio.run(_staggered(batcher, tiny, plan))
    for i, _, num_beams in plan:
        assert np.array_equal(local.generate(tiny["sources"][i], tiny["settings"].with_(num_beams=num_beams)).sequences,
                              results[i].sequences)
    assert max(client.steps) >= 7  # 1 + 4 + 2 beams in one step


def test_a_cancelled_request_frees_its_rows_for_a_waiting_one(tiny, local):
    long = tiny["settings"].with_(num_beams=4, min_length=60, max_length=60)

    async def scenario():
        batcher, client = batcher_over(local, tiny, max_rows=4)
        hog = asyncio.ensure_future(batcher.generate(tiny["sources"][1], long))
        waiting = asyncio.ensure_future(batcher.generate(tiny["sources"][2], tiny["settings"].with_(num_beams=2)))
        while batcher.stats.steps < 3:
            await asyncio.sleep(0)
        assert len(batcher.waiting) == 1 and client.active_rows == 4  # no room while the hog runs
        hog.cancel()
        result = await waiting
        await batcher.close()
        return hog, result, batcher, client

    hog, result, batcher, client = asyncio.run(scenario())
    assert hog.cancelled() and batcher.stats.cancelled == 1 and batcher.stats.steps < 59
    assert client.active_rows == 0 and local.generator.n == 0
    assert np.array_equal(result.sequences,
                          local.generate(tiny["sources"][2], tiny["settings"].with_(num_beams=2)).sequences)


def test_the_queue_is_bounded_in_length_and_in_time(tiny, local):
    long = tiny["settings"].with_(num_beams=4, min_length=60, max_length=60)

    async def scenario():
        batcher, _ = batcher_over(local, tiny, max_rows=4, max_queue=1, queue_timeout=0.0)  # expires at once
        hog = asyncio.ensure_future(batcher.generate(tiny["sources"][1], long))
        while batcher.stats.steps < 1:  # the hog holds every row
            await asyncio.sleep(0)
        queued = asyncio.ensure_future(batcher.generate(tiny["sources"][2], tiny["settings"].with_(num_beams=2)))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):  # the queue holds one
            await batcher.generate(tiny["sources"][3], tiny["settings"].with_(num_beams=2))
        with pytest.raises(Overloaded, match="within"):  # and it waits at most queue_timeout
            await queued
        await hog
        await batcher.close()
        return batcher

    assert asyncio.run(scenario()).stats.rejected == 2
    assert local.generator.n == 0


def test_a_bad_source_fails_alone_when_admitted_with_others(tiny, local):
    """A token id outside the vocabulary fails the shared encoder call; the group is retried
    one request at a time, so only the bad request gets the error."""
    async def scenario():
        batcher, _ = batcher_over(local, tiny)
        settings = tiny["settings"].with_(num_beams=2)
        good = asyncio.ensure_future(batcher.generate(tiny["sources"][0], settings))
        bad = asyncio.ensure_future(batcher.generate([5, 6, 10**6, 2], settings))
        results = await asyncio.gather(good, bad, return_exceptions=True)
        await batcher.close()
        return results

    good, bad = asyncio.run(scenario())
    assert isinstance(bad, Exception) and not isinstance(good, Exception)
    assert np.array_equal(good.sequences,
                          local.generate(tiny["sources"][0], tiny["settings"].with_(num_beams=2)).sequences)
    assert local.generator.n == 0
