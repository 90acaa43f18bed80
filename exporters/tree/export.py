"""`lwt export tree`: a model file -> a verified Triton repository entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from exporters import parity
from exporters.model_card import exporter_info, library_versions, write_card
from exporters.repository import LABELS, publish_model_files, staged_version
from exporters.triton_config import EntryConfig, Tensor, render_config
from exporters.tree.convert import INPUT, OUTPUT, run_onnx, to_onnx
from exporters.tree.loading import LoadedModel, label_text, load_model
from exporters.tree.sampling import sample_inputs
from exporters.verify_data import read_verify_data

TOLERANCE = 1e-5
LIBRARIES = ("scikit-learn", "skl2onnx", "onnxmltools", "onnx", "onnxruntime", "xgboost", "lightgbm", "revscoring", "numpy")


@dataclass
class TreeExportOptions:
    name: str
    repository: Path
    version: int | None = None
    verify_data: Path | None = None
    max_batch_size: int = 64
    instance_count: int = 1
    gpu: bool = False
    force: bool = False
    max_queue_delay_microseconds: int = 500
    tolerance: float = TOLERANCE
    progress: bool = True


def entry_config(model: LoadedModel, options: TreeExportOptions) -> EntryConfig:
    n_outputs = len(model.labels)
    return EntryConfig(
        name=options.name,
        backend="onnxruntime",
        inputs=[Tensor(INPUT, "TYPE_FP32", (model.n_features,))],
        outputs=[Tensor(OUTPUT, "TYPE_FP32", (n_outputs,), label_filename=LABELS)],
        max_batch_size=options.max_batch_size,
        instance_count=options.instance_count,
        gpu=options.gpu,
        max_queue_delay_microseconds=options.max_queue_delay_microseconds,
        preferred_batch_sizes=(8, 16, 32, 64),
        # Tree models are cheap per row: one thread per instance batches best on few cores.
        parameters={"intra_op_thread_count": "1", "inter_op_thread_count": "1"},
    )


def _parity_inputs(model: LoadedModel, options: TreeExportOptions) -> tuple[np.ndarray, str]:
    if options.verify_data is not None:
        labels = [label_text(label) for label in model.labels]
        X = read_verify_data(options.verify_data, model.n_features, None if model.multilabel else labels)
        return X, f"verify data {Path(options.verify_data).name}"
    return sample_inputs(model), "rows sampled from the split thresholds"


def check_parity(model: LoadedModel, onnx_bytes: bytes, X: np.ndarray, inputs: str,
                 tolerance: float, progress: bool) -> parity.ParityResult:
    """Original vs exported on the same float32 rows, in chunks with a progress bar."""
    reference, exported = [], []
    chunks = range(0, len(X), 1024)
    for start in tqdm(chunks, desc="parity", unit="chunk", disable=not progress, leave=False):
        rows = X[start : start + 1024]
        reference.append(model.probabilities(rows.astype(np.float64)))
        exported.append(run_onnx(onnx_bytes, rows))
    return parity.compare(np.vstack(reference), np.vstack(exported), tolerance, inputs, model.multilabel)


def model_card(model: LoadedModel, options: TreeExportOptions, result: parity.ParityResult) -> dict[str, Any]:
    return {
        "name": options.name,
        "task": "multilabel-classification" if model.multilabel else "classification",
        "source": {"kind": model.kind, **model.source},
        "model_version": model.version,
        "features": model.feature_names or [f"f{i}" for i in range(model.n_features)],
        "n_features": model.n_features,
        "labels": [label_text(label) for label in model.labels],
        "multilabel": model.multilabel,
        "params": model.params,
        "statistics": model.statistics,
        "inputs": {INPUT: {"datatype": "FP32", "shape": [-1, model.n_features]}},
        "outputs": {OUTPUT: {"datatype": "FP32", "shape": [-1, len(model.labels)]}},
        "exporter": exporter_info("tree"),
        "libraries": library_versions(LIBRARIES),
        "parity": result.as_dict(),
    }


def export_tree(model_file: Path, options: TreeExportOptions) -> dict[str, Any]:
    """Export, check parity, write atomically; raise ExportError with nothing written."""
    steps = tqdm(total=4, desc=f"export {options.name}", unit="step", disable=not options.progress)
    repository = Path(options.repository)
    with staged_version(repository, options.name, options.version, options.force) as (folder, version):
        model = load_model(Path(model_file))
        X, inputs = _parity_inputs(model, options)
        steps.update()
        onnx_bytes = to_onnx(model).SerializeToString()
        steps.update()
        result = parity.require(check_parity(model, onnx_bytes, X, inputs, options.tolerance, options.progress))
        steps.update()
        (folder / "model.onnx").write_bytes(onnx_bytes)
        write_card(folder, model_card(model, options, result))
    publish_model_files(repository, options.name, render_config(entry_config(model, options)),
                        [label_text(label) for label in model.labels])
    steps.update()
    steps.close()
    return {
        "name": options.name,
        "version": version,
        "path": str(Path(options.repository).resolve() / options.name / str(version)),
        "kind": model.kind,
        "n_features": model.n_features,
        "labels": [label_text(label) for label in model.labels],
        "parity": result.as_dict(),
    }
