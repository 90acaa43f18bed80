"""BERT classifiers built from a config with random weights: the compute of a real model
(bert-base-multilingual-cased: 12 layers, 768 hidden, 119,547-token vocabulary) without
downloading one. Tests and benchmarks use them; they are not trained."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

SHAPES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 vocab_size=119547),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=2000),
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocabulary(size: int) -> list[str]:
    """Special tokens, printable characters, common English words, then synthetic pieces."""
    words = ("the of and to in is was for on as with by he it at from his an were are which this be or "
             "has had not but first one their its new after who they two have her she been other when "
             "there all also into during more time may years most only over city some world would "
             "where later up such used many can state about national out known university united then "
             "made jazz mount everest plants photosynthesis stupid lol haha cool music article").split()
    chars = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(0xC0, 0x180)]
    base = SPECIAL + chars + [f"##{c}" for c in chars] + words
    seen, vocab = set(), []
    for token in base:
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    vocab += [f"##p{i}" for i in range(size - len(vocab))]
    return vocab[:size]


def build_bert_classifier(folder: Path, shape: str = "tiny", num_labels: int = 2, seed: int = 0) -> Path:
    """`save_pretrained` output of a random BertForSequenceClassification and its tokenizer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = SHAPES[shape]
    (folder / "vocab.txt").write_text("\n".join(_vocabulary(dims["vocab_size"])) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=False)
    labels = {0: "false", 1: "true"} if num_labels == 2 else {i: f"LABEL_{i}" for i in range(num_labels)}
    config = BertConfig(**dims, num_labels=num_labels, id2label=labels, label2id={v: k for k, v in labels.items()},
                        max_position_embeddings=512, architectures=["BertForSequenceClassification"])
    torch.manual_seed(seed)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
