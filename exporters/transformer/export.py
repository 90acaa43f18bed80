"""`lwt export transformer`: a Hugging Face directory -> a verified Triton repository entry.

The entry follows the tree exporter's conventions (config from Triton's protobuf, model
card, SHA512SUMS, atomic versions, parity or nothing is written) and stores the tokenizer
beside the model in `<version>/tokenizer/`, so a service loads exactly the matching one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from exporters import parity
from exporters.errors import ExportError
from exporters.model_card import exporter_info, library_versions, write_card
from exporters.repository import LABELS, publish_model_files, sha512_file, staged_version
from exporters.transformer import convert
from exporters.transformer.loading import HFModel, load_hf_model, sample_batch
from exporters.transformer.tasks import TASKS, TaskSpec
from exporters.triton_config import EntryConfig, Tensor, render_config

FP32_TOLERANCE = 1e-4
LIBRARIES = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "tokenizers", "numpy")


@dataclass
class TransformerExportOptions:
    name: str
    repository: Path
    task: str
    format: str = "onnx"
    quantize: str | None = None
    opset: int = convert.DEFAULT_OPSET
    max_batch_size: int = 32
    max_sequence_length: int = 512
    instance_count: int = 1
    gpu: bool = False
    version: int | None = None
    force: bool = False
    tolerance: float = FP32_TOLERANCE
    max_int8_delta: float | None = None
    ragged_batch: bool = False
    progress: bool = True


def entry_config(hf: HFModel, task: TaskSpec, options: TransformerExportOptions) -> EntryConfig:
    inputs = [Tensor(n, "TYPE_INT64", (-1,), allow_ragged_batch=options.ragged_batch) for n in hf.input_names]
    output = Tensor(task.output, "TYPE_FP32", task.output_dims(hf.config),
                    label_filename=LABELS if task.name == "sequence-classification" and hf.labels else "")
    return EntryConfig(
        name=options.name, backend="onnxruntime" if options.format == "onnx" else "pytorch",
        inputs=inputs, outputs=[output], max_batch_size=options.max_batch_size,
        instance_count=options.instance_count, gpu=options.gpu, max_queue_delay_microseconds=2000,
        preferred_batch_sizes=(4, 8, 16, 32),  # thread counts: the runtimes' defaults (all cores)
    )


def _tokenizer_files(hf: HFModel, target: Path) -> dict[str, str]:
    target.mkdir()
    hf.tokenizer.save_pretrained(str(target))
    for junk in ("chat_template.jinja",):
        (target / junk).unlink(missing_ok=True)
    return {p.name: sha512_file(p) for p in sorted(target.iterdir()) if p.is_file()}


def _convert(hf: HFModel, task: TaskSpec, options: TransformerExportOptions, folder: Path,
             feeds: dict[str, Any], reference: Any, inputs: str) -> tuple[str, dict[str, Any]]:
    """Write the model file; return its name and what the card says about the export."""
    details: dict[str, Any] = {}
    if options.format == "torchscript":
        details["exporter"] = convert.to_torchscript(hf, task, folder / "model.pt")
        exported = convert.run_torchscript(folder / "model.pt", hf, feeds)
        details["parity"] = parity.require(convert.compare_outputs(reference, exported, task, options.tolerance,
                                                                   inputs)).as_dict()
        return "model.pt", details
    raw, fp32 = folder / "raw.onnx", folder / "fp32.onnx"
    details["exporter"] = convert.to_onnx(hf, task, raw, options.opset)
    details["optimization"] = convert.optimize(raw, fp32, hf)
    result = parity.require(convert.compare_outputs(reference, convert.run_onnx(fp32, feeds), task,
                                                    options.tolerance, inputs))
    details["parity"] = result.as_dict()
    if options.quantize != "int8":
        raw.unlink()
        fp32.rename(folder / "model.onnx")
        return "model.onnx", details
    # Quantise the plain graph: the fused one uses contrib ops the quantiser cannot type.
    convert.quantize_int8(raw, folder / "model.onnx")
    raw.unlink()
    delta = convert.compare_outputs(reference, convert.run_onnx(folder / "model.onnx", feeds), task,
                                    options.max_int8_delta if options.max_int8_delta is not None else float("inf"),
                                    inputs)
    int8 = convert.run_onnx(folder / "model.onnx", feeds)
    details["int8"] = {**delta.as_dict(), "tolerance": options.max_int8_delta, "fp32_bytes": fp32.stat().st_size,
                       "int8_bytes": (folder / "model.onnx").stat().st_size,
                       "min_cosine_similarity": convert.min_cosine(reference, int8)}
    fp32.unlink()
    if options.max_int8_delta is not None and delta.max_abs_diff > options.max_int8_delta:
        raise ExportError(f"int8 quantisation changed outputs by {delta.max_abs_diff:.3g}, above the "
                          f"--max-int8-delta bound {options.max_int8_delta:g}; nothing was written")
    return "model.onnx", details


def _check_backend(model_dir: Path, backend: str) -> None:
    """Triton runs every version of a model with one backend: refuse to mix them."""
    from exporters.triton_config import read_config

    if (model_dir / "config.pbtxt").is_file():
        existing = read_config(model_dir / "config.pbtxt").backend
        if existing != backend:
            raise ExportError(f"{model_dir.name} is served by the {existing} backend; export the "
                              f"{backend} format under another --name")


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
        filename, details = _convert(hf, task, options, folder, feeds, reference, inputs)
        steps.update(2)
        tokenizer = _tokenizer_files(hf, folder / "tokenizer")
        card = {
            "name": options.name, "task": task.name, "format": options.format, "quantize": options.quantize,
            "source": {"kind": "huggingface", "directory": Path(model_dir).name,
                       "model_type": hf.config.model_type, "architectures": list(hf.config.architectures or []),
                       "sha512": {p.name: sha512_file(p) for p in sorted(Path(model_dir).iterdir())
                                  if p.is_file() and p.suffix in (".safetensors", ".bin", ".json")}},
            "labels": hf.labels if task.name == "sequence-classification" else [],
            "inputs": hf.input_names, "output": task.output, "output_dims": list(task.output_dims(hf.config)),
            "max_sequence_length": options.max_sequence_length, "opset": options.opset,
            "tokenizer": {"path": "tokenizer", "sha512": tokenizer},
            "model_file": filename, **details,
            "exporter": exporter_info("transformer"), "libraries": library_versions(LIBRARIES),
        }
        write_card(folder, card)
    labels = hf.labels if task.name == "sequence-classification" and hf.labels else None
    publish_model_files(repository, options.name, render_config(entry_config(hf, task, options)), labels)
    steps.update()
    steps.close()
    return {"name": options.name, "version": version, "task": task.name, "format": options.format,
            "path": str(repository.resolve() / options.name / str(version)), "parity": details["parity"],
            **({"int8": details["int8"]} if "int8" in details else {})}
