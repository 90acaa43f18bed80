"""Transformer -> ONNX (optimum, else torch.onnx.export), ORT-optimised, optionally int8;
or -> TorchScript (torch.jit.trace) for Triton's `pytorch` backend."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.transformers.optimizer import optimize_model
from optimum.exporters.onnx import main_export

from exporters import parity
from exporters.contract.errors import ExportError
from exporters.contract.events import fields
from exporters.transformer.loading import HFModel
from exporters.transformer.tasks import TaskSpec, torch_module

log = logging.getLogger(__name__)
DEFAULT_OPSET = 18


def _example(hf: HFModel) -> tuple[torch.Tensor, ...]:
    encoded = hf.tokenizer(["an example", "a slightly longer example sentence"], padding=True, return_tensors="pt")
    return tuple(encoded[name].to(torch.int64) for name in hf.input_names)


def _torch_onnx(hf: HFModel, task: TaskSpec, target: Path, opset: int) -> str:
    dynamic = {name: {0: "batch", 1: "sequence"} for name in hf.input_names}
    dynamic[task.output] = {0: "batch", 1: "sequence"} if task.output == "last_hidden_state" else {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(torch_module(task, hf.model), _example(hf), str(target), input_names=hf.input_names,
                          output_names=[task.output], dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    return "torch.onnx.export"


def _optimum_onnx(hf: HFModel, task: TaskSpec, target: Path, opset: int) -> str:
    with tempfile.TemporaryDirectory(prefix="lwt-optimum-") as out:
        main_export(str(hf.directory), output=out, task=task.optimum_task, opset=opset, no_post_process=True,
                    local_files_only=True, do_validation=False)
        shutil.move(str(Path(out) / "model.onnx"), target)
    return "optimum.exporters.onnx"


def to_onnx(hf: HFModel, task: TaskSpec, target: Path, opset: int) -> str:
    """Export with dynamic batch and sequence axes; return which exporter did it."""
    with warnings.catch_warnings():
        # HF's attention-mask helpers trace constants; the graph is checked for parity after.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return _to_onnx(hf, task, target, opset)


def _to_onnx(hf: HFModel, task: TaskSpec, target: Path, opset: int) -> str:
    if task.optimum_task is not None:
        try:
            return _optimum_onnx(hf, task, target, opset)
        except Exception as exc:  # noqa: BLE001 - optimum raises many kinds; the fallback is documented
            log.warning("optimum export failed, using torch.onnx.export", extra=fields(reason=str(exc)[:200]))
    try:
        return _torch_onnx(hf, task, target, opset)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"ONNX export failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def optimize(source: Path, target: Path, hf: HFModel) -> str:
    """ONNX Runtime's transformer graph fusions (attention, layer norm, GELU), CPU-portable."""
    try:
        model_type = "bert" if getattr(hf.config, "model_type", "") in ("bert", "roberta", "xlm-roberta",
                                                                         "distilbert", "electra") else None
        if model_type is None:
            raise ValueError(f"no fusion recipe for model type {hf.config.model_type}")
        printed = io.StringIO()  # the optimiser prints ("failed in shape inference" ...): stdout is for --json
        with contextlib.redirect_stdout(printed):
            optimized = optimize_model(str(source), model_type=model_type, num_heads=int(hf.config.num_attention_heads),
                                       hidden_size=int(hf.config.hidden_size), opt_level=1, use_gpu=False)
        if printed.getvalue().strip():
            log.info("onnxruntime optimizer output", extra=fields(printed=printed.getvalue().strip().splitlines()[:20]))
        optimized.save_model_to_file(str(target))
        return f"onnxruntime.transformers.optimizer ({model_type}, opt_level 1)"
    except Exception as exc:  # noqa: BLE001 - optimisation is best effort; recorded in the card
        shutil.copyfile(source, target)
        return f"none ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"


def to_torchscript(hf: HFModel, task: TaskSpec, target: Path) -> str:
    module = torch_module(task, hf.model)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # as in to_onnx: parity is checked after
        traced = torch.jit.trace(module, _example(hf), strict=False)
    traced.save(str(target))
    return "torch.jit.trace"


def run_torch(hf: HFModel, task: TaskSpec, feeds: dict[str, np.ndarray]) -> np.ndarray:
    module = torch_module(task, hf.model)
    with torch.no_grad():
        return module(*(torch.from_numpy(feeds[n]) for n in hf.input_names)).numpy()


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]


def run_torchscript(path: Path, hf: HFModel, feeds: dict[str, np.ndarray]) -> np.ndarray:
    module = torch.jit.load(str(path)).eval()
    with torch.no_grad():
        return module(*(torch.from_numpy(feeds[n]) for n in hf.input_names)).numpy()


def compare_outputs(reference: np.ndarray, exported: np.ndarray, task: TaskSpec, tolerance: float,
                    inputs: str) -> Any:
    """The shared parity check on logits (labels must agree) or embeddings / hidden states."""
    if task.name == "sequence-classification":
        return parity.compare(reference, exported, tolerance, inputs)
    flat = lambda a: a.reshape(a.shape[0], -1)  # noqa: E731
    return parity.compare(flat(reference), flat(exported), tolerance, inputs, check_labels=False)
