"""`lwt export fasttext`: a fastText model file -> a verified Triton repository entry.

The version folder holds `model.onnx` (the graph), the vocabulary the services' tokeniser
hashes against (`fasttext_vocabulary.json`), the card and `SHA512SUMS`; beside it the
config and `labels.txt`. Parity runs before anything is written: a failure writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from exporters import parity
from exporters.contract.card import (FastTextInfo, ModelCard, Parity, Service, Source, Tensor as CardTensor,
                                     exporter_info, library_versions, wiki_of, write_card)
from exporters.contract.errors import ExportError
from exporters.contract.fasttext_tokens import VOCABULARY, FastTextTokenizer, label_text
from exporters.contract.layout import LABELS, publish_model_files, sha512_file, staged_version
from exporters.fasttext import parity_check
from exporters.fasttext.graph import INPUT, OUTPUT, build_onnx
from exporters.fasttext.model_file import FastTextModel, read_model
from exporters.fasttext.texts import parity_texts
from exporters.fasttext.vocabulary import vocabulary_payload, write_vocabulary
from exporters.settings import settings
from exporters.triton_config import EntryConfig, Tensor, render_config

LIBRARIES = ("fasttext-wheel", "fasttext", "onnx", "onnxruntime", "numpy")
MODEL_FILE = "model.onnx"


@dataclass
class FastTextExportOptions:
    name: str
    repository: Path
    version: int | None = None
    max_batch_size: int = field(default_factory=lambda: settings().fasttext_max_batch_size)
    instance_count: int = 1
    gpu: bool = False
    force: bool = False
    max_queue_delay_microseconds: int = field(default_factory=lambda: settings().fasttext_queue_delay_us)
    tolerance: float = field(default_factory=lambda: settings().fasttext_tolerance)
    progress: bool = True
    service: Service | None = None  # "langid", "outlink-topic-model", or Triton only
    wiki_db: str | None = None
    demonstration: bool = False
    max_text_chars: int | None = None  # the service cuts texts to this many characters
    model_version: str | None = None
    description: str = ""
    parity_texts: int = 1200  # generated multilingual texts (plus 300 of the model's own words)


def entry_config(model: FastTextModel, options: FastTextExportOptions) -> EntryConfig:
    """Variable-length ids, no ragged batching: the dynamic batcher merges requests of one
    width (the services pad to multiples of 16 with -1 so that near lengths share one)."""
    return EntryConfig(
        name=options.name, backend="onnxruntime",
        inputs=[Tensor(INPUT, "TYPE_INT64", (-1,))],
        outputs=[Tensor(OUTPUT, "TYPE_FP32", (model.nlabels,), label_filename=LABELS)],
        max_batch_size=options.max_batch_size, instance_count=options.instance_count, gpu=options.gpu,
        max_queue_delay_microseconds=options.max_queue_delay_microseconds,
        # Cheap rows: one thread per instance batches best on few cores.
        parameters={"intra_op_thread_count": "1", "inter_op_thread_count": "1"},
    )


def model_card(model: FastTextModel, model_file: Path, options: FastTextExportOptions, result: Parity,
               statistics: dict[str, Any], version: int) -> ModelCard:
    args = model.args
    return ModelCard(
        name=options.name, family="fasttext",
        task="multilabel-classification" if model.loss == "ova" else "classification",
        service=options.service, wiki_db=options.wiki_db or wiki_of(options.name),
        model_version=options.model_version or str(version), demonstration=options.demonstration,
        description=options.description,
        source=Source(kind="fasttext", name=model_file.name, sha512={model_file.name: sha512_file(model_file)}),
        inputs=[CardTensor(name=INPUT, datatype="INT64", shape=[-1, -1])],
        outputs=[CardTensor(name=OUTPUT, datatype="FP32", shape=[-1, model.nlabels])],
        labels=[label_text(label) for label in model.label_strings()], multilabel=model.loss == "ova",
        params={k: args[k] for k in ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "bucket", "minn",
                                      "maxn", "lrUpdateRate", "t")} | {"loss": model.loss, "words": model.nwords},
        statistics={"parity": statistics}, parity=result, exporter=exporter_info("fasttext"),
        libraries=library_versions(LIBRARIES),
        fasttext=FastTextInfo(loss=model.loss, dim=model.dim, bucket=int(args["bucket"]), minn=int(args["minn"]),
                              maxn=int(args["maxn"]), word_ngrams=int(args["wordNgrams"]), quantized=model.quantized,
                              vocabulary_file=VOCABULARY, max_text_chars=options.max_text_chars),
    )


def export_fasttext(model_file: Path, options: FastTextExportOptions) -> dict[str, Any]:
    """Export, check parity, write atomically; ExportError with nothing written."""
    model_file = Path(model_file)
    if options.max_text_chars is not None and options.max_text_chars < 1:
        raise ExportError("max_text_chars must be at least 1")
    steps = tqdm(total=4, desc=f"export {options.name}", unit="step", disable=not options.progress)
    repository = Path(options.repository)
    with staged_version(repository, options.name, options.version, options.force) as (folder, version):
        model = read_model(model_file)
        onnx_bytes = build_onnx(model).SerializeToString()
        tokenizer = FastTextTokenizer(vocabulary_payload(model))
        steps.update()
        texts = parity_texts(tokenizer.words, n_general=options.parity_texts)
        inputs = f"{len(texts)} generated texts (many languages and scripts, and the model's own words)"
        steps.update()
        result, statistics = parity_check.check(model_file, onnx_bytes, tokenizer, texts, options.tolerance,
                                                inputs, options.progress)
        parity.require(result)
        steps.update()
        (folder / MODEL_FILE).write_bytes(onnx_bytes)
        write_vocabulary(model, folder / VOCABULARY)
        sizes = {"onnx_bytes": len(onnx_bytes), "vocabulary_bytes": (folder / VOCABULARY).stat().st_size,
                 "source_bytes": model_file.stat().st_size}
        write_card(folder, model_card(model, model_file, options, result, statistics | sizes, version))
    labels = [label_text(label) for label in model.label_strings()]
    publish_model_files(repository, options.name, render_config(entry_config(model, options)), labels)
    steps.update()
    steps.close()
    return {"name": options.name, "version": version,
            "path": str(repository.resolve() / options.name / str(version)), "loss": model.loss,
            "labels": len(labels), "quantized": model.quantized, **sizes, "parity": result.model_dump(),
            "parity_details": statistics}
