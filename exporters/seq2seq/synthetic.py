"""mBART-shaped encoder-decoders built from a config, with random (seeded) weights and a
tokenizer trained here: for shape and speed, never for quality.

Why: article-descriptions is an mBART-large (cc25) model that cannot be downloaded here. A
model built from the same config class has the same graph, shapes and generation code
path, so export, parity, batching and benchmarks can run on it; its descriptions are
nonsense. A user's real mBART `save_pretrained` folder exports the same way.

* `tiny`: d_model 64, 2+2 layers, 4 heads (tests: exports and generates in about a second);
* `large`: mBART-large: d_model 1024, 12+12 layers, 16 heads, ffn 4096, 1024 positions and
  mBART's real 250,027-row vocabulary (the lm_head over it is more than half of a decoding
  step; a smaller vocabulary would flatter every timing). The tokenizer uses the first few
  thousand rows; the rest are never fed in but are scored at every step, as in the real model.

Generation settings are Lift Wing's article-descriptions call on `mbart-large-cc25`:
`generate(max_length=20, min_length=2, length_penalty=2.0, early_stopping=True, num_beams=n,
num_return_sequences=n, decoder_start_token_id=<target language code>)`; the cc25 source
layout is `tokens </s> <source language code>`; `forced_eos_token_id=2` is MBartConfig's
default.

Weights: at mBART's init_std (0.02) a random model repeats its start token whatever the
input, which would hide a cross-attention bug; std init_scale/sqrt(d_model) makes outputs
depend on the source (tiny: 2.8, which gives 26 different greedy outputs for the 26 sample
leads and logits up to ~16, whose fp32 error against PyTorch stays near 5e-5; at 3.2 it
reaches 1e-4, as far as PyTorch itself is from float64). `eos_bias` raises EOS in
`final_logits_bias` (tiny: 9.0) so hypotheses end at different lengths and min_length, EOS,
the length penalty and early stopping all happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, MBartConfig, MBartForConditionalGeneration, PreTrainedTokenizerFast

from exporters.seq2seq.sample_text import training_sentences

# mBART-large-cc25's 25 language codes, in its order, after the sentencepiece vocabulary.
LANG_CODES = ["ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN",
              "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO",
              "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN"]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, fairseq/mBART order
BOS, PAD, EOS, UNK = 0, 1, 2, 3


@dataclass(frozen=True)
class Shape:
    d_model: int
    layers: int  # encoder and decoder each
    heads: int
    ffn: int
    vocab_size: int | None  # None: exactly the tokenizer's size
    init_scale: float  # weights' std is init_scale / sqrt(d_model)


SHAPES = {
    "tiny": Shape(d_model=64, layers=2, heads=4, ffn=128, vocab_size=None, init_scale=2.8),
    "large": Shape(d_model=1024, layers=12, heads=16, ffn=4096, vocab_size=250027, init_scale=3.2),
}

# Lift Wing's article-descriptions call (see the module docstring).
GENERATION = dict(max_length=20, min_length=2, length_penalty=2.0, num_beams=2, early_stopping=True,
                  no_repeat_ngram_size=0, forced_eos_token_id=EOS)


def train_tokenizer(vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """BPE over Metaspace pieces (sentencepiece-like) on the sample and fixture texts, with
    mBART's special tokens first and the language codes and <mask> last. BPE, not Unigram:
    Unigram's trainer gives slightly different scores (so ids) from run to run."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(training_sentences(), trainer=trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                                              show_progress=False))
    tok.add_special_tokens(LANG_CODES + ["<mask>"])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", EOS)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", model_max_length=1024,
                                   additional_special_tokens=LANG_CODES)
    if [fast.convert_tokens_to_ids(t) for t in SPECIALS] != [BOS, PAD, EOS, UNK]:
        raise RuntimeError("the trained tokenizer does not put mBART's special tokens first")
    return fast


def build_mbart(folder: Path, shape: str = "tiny", seed: int = 0, vocab_size: int | None = None,
                eos_bias: float | None = None, generation: dict | None = None) -> Path:
    """A `save_pretrained` folder: random MBartForConditionalGeneration, tokenizer,
    generation_config.json (byte-identical for the same arguments)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = SHAPES[shape]
    tokenizer = train_tokenizer()
    vocab = vocab_size or dims.vocab_size or len(tokenizer)
    if vocab < len(tokenizer):
        raise ValueError(f"vocab_size {vocab} < tokenizer size {len(tokenizer)}")
    en = tokenizer.convert_tokens_to_ids("en_XX")
    config = MBartConfig(
        vocab_size=vocab, d_model=dims.d_model, encoder_layers=dims.layers, decoder_layers=dims.layers,
        encoder_attention_heads=dims.heads, decoder_attention_heads=dims.heads, encoder_ffn_dim=dims.ffn,
        decoder_ffn_dim=dims.ffn, max_position_embeddings=1024, scale_embedding=True,  # as mbart-large-cc25
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=en,
        forced_eos_token_id=EOS, architectures=["MBartForConditionalGeneration"],
        init_std=dims.init_scale / dims.d_model**0.5,  # see the module docstring
    )
    torch.manual_seed(seed)
    model = MBartForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, EOS] = (9.0 if shape == "tiny" else 0.0) if eos_bias is None else eos_bias
    model.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                                               decoder_start_token_id=en, **{**GENERATION, **(generation or {})})
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
