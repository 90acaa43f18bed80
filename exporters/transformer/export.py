"""`lwt export transformer`: a Hugging Face directory -> a verified Triton repository entry.

The entry follows the tree exporter's conventions (config from Triton's protobuf, model
card, SHA512SUMS, atomic versions, parity or nothing is written) and stores the tokenizer
beside the model in `<version>/tokenizer/`, so a service loads exactly the matching one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from exporters import parity
from exporters.contract.card import (Int8, ModelCard, Parity, Service, Source, Tensor as CardTensor, Tokenizer,
                                     TransformerInfo, exporter_info, library_versions, write_card)
from exporters.contract.errors import ExportError
from exporters.contract.layout import CONFIG, LABELS, TOKENIZER, publish_model_files, sha512_file, staged_version
from exporters.settings import settings
from exporters.transformer import convert, int8
from exporters.transformer.loading import HFModel, load_hf_model, sample_batch, tokenize
from exporters.transformer.texts import SAMPLE_TEXTS, WIDE_TEXTS
from exporters.transformer.tasks import TASKS, TaskSpec
from exporters.triton_config import EntryConfig, Tensor, read_config, render_config

LIBRARIES = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "tokenizers", "numpy")
DEFAULT_SERVICES: dict[str, Service] = {"sequence-classification": "text-classification",
                                        "sentence-embedding": "embedding"}


@dataclass
class TransformerExportOptions:
    name: str
    repository: Path
    task: str
    format: str = "onnx"
    quantize: str | None = None
    opset: int = convert.DEFAULT_OPSET
    max_batch_size: int = field(default_factory=lambda: settings().transformer_max_batch_size)
    max_sequence_length: int = 512
    instance_count: int = 1
    gpu: bool = False
    version: int | None = None
    force: bool = False
    tolerance: float = field(default_factory=lambda: settings().transformer_tolerance)
    max_int8_delta: float | None = None
    min_cosine: float | None = None  # default: 0.99 for embeddings and hidden states
    min_label_agreement: float | None = None  # default: 1.0 (every label kept) for classifiers
    ragged_batch: bool = False
    progress: bool = True
    wiki_db: str | None = None
    service: Service | None = None


@dataclass
class Converted:
    """What writing the model file produced, for the card."""

    model_file: str
    onnx_exporter: str
    parity: Parity
    optimization: str | None = None
    int8: Int8 | None = None


def entry_config(hf: HFModel, task: TaskSpec, options: TransformerExportOptions) -> EntryConfig:
    inputs = [Tensor(n, "TYPE_INT64", (-1,), allow_ragged_batch=options.ragged_batch) for n in hf.input_names]
    output = Tensor(task.output, "TYPE_FP32", task.output_dims(hf.config),
                    label_filename=LABELS if task.name == "sequence-classification" and hf.labels else "")
    return EntryConfig(
        name=options.name, backend="onnxruntime" if options.format == "onnx" else "pytorch",
        inputs=inputs, outputs=[output], max_batch_size=options.max_batch_size,
        instance_count=options.instance_count, gpu=options.gpu,
        max_queue_delay_microseconds=settings().transformer_queue_delay_us,
        preferred_batch_sizes=settings().transformer_preferred_batch_sizes,  # threads: the runtimes' defaults
    )


def _tokenizer_files(hf: HFModel, target: Path) -> dict[str, str]:
    target.mkdir()
    hf.tokenizer.save_pretrained(str(target))
    for junk in ("chat_template.jinja",):
        (target / junk).unlink(missing_ok=True)
    return {p.name: sha512_file(p) for p in sorted(target.iterdir()) if p.is_file()}


def _convert(hf: HFModel, task: TaskSpec, options: TransformerExportOptions, folder: Path,
             feeds: dict[str, Any], reference: np.ndarray, inputs: str) -> Converted:
    """Write the model file, parity-checked; int8 also reports (and bounds) its delta."""
    if options.format == "torchscript":
        exporter = convert.to_torchscript(hf, task, folder / "model.pt")
        exported = convert.run_torchscript(folder / "model.pt", hf, feeds)
        result = parity.require(convert.compare_outputs(reference, exported, task, options.tolerance, inputs))
        return Converted("model.pt", exporter, result)
    raw, fp32 = folder / "raw.onnx", folder / "fp32.onnx"
    exporter = convert.to_onnx(hf, task, raw, options.opset)
    optimization = convert.optimize(raw, fp32, hf)
    result = parity.require(convert.compare_outputs(reference, convert.run_onnx(fp32, feeds), task,
                                                    options.tolerance, inputs))
    if options.quantize != "int8":
        raw.unlink()
        fp32.rename(folder / "model.onnx")
        return Converted("model.onnx", exporter, result, optimization)
    quantized = _int8(hf, task, options, raw, folder / "model.onnx", fp32.stat().st_size, feeds, reference)
    raw.unlink()
    fp32.unlink()
    return Converted("model.onnx", exporter, result, optimization, quantized)


def _int8(hf: HFModel, task: TaskSpec, options: TransformerExportOptions, plain: Path, target: Path,
          fp32_bytes: int, feeds: dict[str, Any], reference: np.ndarray) -> Int8:
    """The fastest int8 recipe whose answers stay within the bounds (`exporters.transformer.int8`):
    checked on the sample batch, on every sample text alone (no padding: int8 takes one
    activation range per batch) and on texts in ~30 languages it was never calibrated on."""
    classifier = task.name == "sequence-classification"
    min_cosine = options.min_cosine if options.min_cosine is not None else (None if classifier else 0.99)
    min_agreement = options.min_label_agreement if options.min_label_agreement is not None else \
        (1.0 if classifier else None)
    singles = [tokenize(hf, [t], options.max_sequence_length) for t in SAMPLE_TEXTS + WIDE_TEXTS]
    references = [(feeds, reference)] + [(f, convert.run_torch(hf, task, f)) for f in singles]
    calibration = singles[: len(SAMPLE_TEXTS)] + [tokenize(hf, SAMPLE_TEXTS, options.max_sequence_length, pad_to=128)]
    picked, attempts = int8.pick_int8({"plain": plain}, references, options.max_int8_delta, min_cosine, target,
                                      calibration_feeds=calibration, labels=classifier,
                                      min_label_agreement=min_agreement)
    tried = [asdict(a) for a in attempts]
    if picked is None:
        reasons = "; ".join(f"{a.recipe}: {', '.join(a.rejected)}" for a in attempts)
        raise ExportError(f"no int8 recipe meets the bounds ({reasons}); nothing was written")
    deviation = picked.deviation
    return Int8(recipe=picked.recipe, max_abs_diff=deviation.max_abs_diff, tolerance=options.max_int8_delta,
                label_agreement=deviation.label_agreement if deviation.label_agreement is not None else 1.0,
                min_cosine_similarity=deviation.min_cosine, min_cosine=min_cosine, fp32_bytes=fp32_bytes,
                int8_bytes=target.stat().st_size, tried=tried)


def _check_backend(model_dir: Path, backend: str) -> None:
    """Triton runs every version of a model with one backend: refuse to mix them."""
    if (model_dir / CONFIG).is_file():
        existing = read_config(model_dir / CONFIG).backend
        if existing != backend:
            raise ExportError(f"{model_dir.name} is served by the {existing} backend; export the "
                              f"{backend} format under another --name")


def model_card(hf: HFModel, task: TaskSpec, options: TransformerExportOptions, model_dir: Path,
               converted: Converted, tokenizer: dict[str, str], version: int) -> ModelCard:
    classifier = task.name == "sequence-classification"
    return ModelCard(
        name=options.name, family="transformer", task=task.name,  # type: ignore[arg-type]
        service=options.service or DEFAULT_SERVICES.get(task.name),
        wiki_db=options.wiki_db or ("enwiki" if classifier else None),
        model_version=str(version),
        source=Source(kind="huggingface", name=Path(model_dir).name,
                      sha512={p.name: sha512_file(p) for p in sorted(Path(model_dir).iterdir())
                              if p.is_file() and p.suffix in (".safetensors", ".bin", ".json")}),
        inputs=[CardTensor(name=n, datatype="INT64", shape=[-1, -1]) for n in hf.input_names],
        outputs=[CardTensor(name=task.output, datatype="FP32", shape=[-1, *task.output_dims(hf.config)])],
        labels=hf.labels if classifier else [],
        parity=converted.parity,
        exporter=exporter_info("transformer"),
        libraries=library_versions(LIBRARIES),
        transformer=TransformerInfo(
            format=options.format, model_file=converted.model_file,  # type: ignore[arg-type]
            model_type=hf.config.model_type, architectures=list(hf.config.architectures or []),
            max_sequence_length=options.max_sequence_length,
            opset=options.opset if options.format == "onnx" else None, onnx_exporter=converted.onnx_exporter,
            optimization=converted.optimization, quantize=options.quantize,  # type: ignore[arg-type]
            int8=converted.int8, tokenizer=Tokenizer(path=TOKENIZER, sha512=tokenizer)),
    )


def export_transformer(model_dir: Path, options: TransformerExportOptions) -> dict[str, Any]:
    if options.task not in TASKS:
        raise ExportError(f"unknown task {options.task!r} (one of {', '.join(TASKS)})")
    if options.quantize and options.format != "onnx":
        raise ExportError("--quantize int8 needs --format onnx")
    task = TASKS[options.task]
    _check_backend(Path(options.repository) / options.name, "onnxruntime" if options.format == "onnx" else "pytorch")
    steps = tqdm(total=4, desc=f"export {options.name}", unit="step", disable=not options.progress)
    repository = Path(options.repository)
    with staged_version(repository, options.name, options.version, options.force) as (folder, version):
        hf = load_hf_model(Path(model_dir), task)
        feeds = sample_batch(hf, options.max_sequence_length)
        reference = convert.run_torch(hf, task, feeds)
        inputs = f"{next(iter(feeds.values())).shape[0]} sample texts"
        steps.update()
        converted = _convert(hf, task, options, folder, feeds, reference, inputs)
        steps.update(2)
        tokenizer = _tokenizer_files(hf, folder / TOKENIZER)
        write_card(folder, model_card(hf, task, options, model_dir, converted, tokenizer, version))
    labels = hf.labels if task.name == "sequence-classification" and hf.labels else None
    publish_model_files(repository, options.name, render_config(entry_config(hf, task, options)), labels)
    steps.update()
    steps.close()
    return {"name": options.name, "version": version, "task": task.name, "format": options.format,
            "path": str(repository.resolve() / options.name / str(version)), "parity": converted.parity.model_dump(),
            **({"int8": converted.int8.model_dump()} if converted.int8 else {})}
