"""`lwt export tree`: a model file -> a verified Triton repository entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from exporters import parity
from exporters.contract.card import (ModelCard, Parity, Service, Source, Tensor as CardTensor, exporter_info,
                                     library_versions, wiki_of, write_card)
from exporters.contract.errors import ExportError
from exporters.contract.layout import LABELS, publish_model_files, staged_version
from exporters.contract.revscoring_features import dump_features
from exporters.settings import settings
from exporters.triton_config import EntryConfig, Tensor, render_config
from exporters.tree import word_vectors
from exporters.tree.convert import INPUT, OUTPUT, run_onnx, to_onnx
from exporters.tree.loading import LoadedModel, label_text, load_model
from exporters.tree.sampling import sample_inputs
from exporters.verify_data import read_verify_data

LIBRARIES = ("scikit-learn", "skl2onnx", "onnxmltools", "onnx", "onnxruntime", "xgboost", "lightgbm", "revscoring", "numpy")


@dataclass
class TreeExportOptions:
    name: str
    repository: Path
    version: int | None = None
    verify_data: Path | None = None
    max_batch_size: int = field(default_factory=lambda: settings().tree_max_batch_size)
    instance_count: int = 1
    gpu: bool = False
    force: bool = False
    max_queue_delay_microseconds: int = field(default_factory=lambda: settings().tree_queue_delay_us)
    tolerance: float = field(default_factory=lambda: settings().tree_tolerance)
    progress: bool = True
    wiki_db: str | None = None  # default: from the name (enwiki-reverted -> enwiki)
    service: Service | None = None  # default: "revscoring" for revscoring model files
    feature_names: Path | None = None  # a file of names for models that carry none
    demonstration: bool = False


def entry_config(model: LoadedModel, options: TreeExportOptions,
                 vectors: word_vectors.VectorLayout | None = None) -> EntryConfig:
    n_outputs = len(model.labels)
    inputs = [Tensor(INPUT, "TYPE_FP32", (model.n_features,))]
    if vectors is not None:  # word ids (any count per row) and the other features
        inputs = [Tensor(word_vectors.WORD_IDS, "TYPE_INT64", (-1,))]
        inputs += [Tensor(INPUT, "TYPE_FP32", (vectors.n_scalars,))] if vectors.n_scalars else []
    return EntryConfig(
        name=options.name,
        backend="onnxruntime",
        inputs=inputs,
        outputs=[Tensor(OUTPUT, "TYPE_FP32", (n_outputs,), label_filename=LABELS)],
        max_batch_size=options.max_batch_size,
        instance_count=options.instance_count,
        gpu=options.gpu,
        max_queue_delay_microseconds=options.max_queue_delay_microseconds,
        preferred_batch_sizes=settings().tree_preferred_batch_sizes,
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
                 tolerance: float, progress: bool) -> Parity:
    """Original vs exported on the same float32 rows, in chunks with a progress bar."""
    reference, exported = [], []
    chunks = range(0, len(X), 1024)
    for start in tqdm(chunks, desc="parity", unit="chunk", disable=not progress, leave=False):
        rows = X[start : start + 1024]
        reference.append(model.probabilities(rows.astype(np.float64)))
        exported.append(run_onnx(onnx_bytes, rows))
    return parity.compare(np.vstack(reference), np.vstack(exported), tolerance, inputs, model.multilabel)


def _feature_names(model: LoadedModel, options: TreeExportOptions) -> list[str]:
    if options.feature_names is not None:
        names = [l.strip() for l in Path(options.feature_names).read_text().splitlines() if l.strip()]
        if len(names) != model.n_features:
            raise ExportError(f"{options.feature_names}: {len(names)} names, but the model has {model.n_features} features")
        if model.feature_names and model.feature_names != names:
            raise ExportError(f"{options.feature_names}: the names differ from those the model file carries")
        return names
    return model.feature_names or [f"f{i}" for i in range(model.n_features)]


def model_card(model: LoadedModel, options: TreeExportOptions, result: Parity, version: int) -> ModelCard:
    labels = [label_text(label) for label in model.labels]
    service = options.service or ("revscoring" if model.kind == "revscoring" else None)
    if service == "revscoring" and model.revscoring_features is None:
        raise ExportError("--service revscoring needs a revscoring model file (it carries its feature list)")
    return ModelCard(
        name=options.name,
        family="tree",
        task="multilabel-classification" if model.multilabel else "classification",
        service=service,
        wiki_db=options.wiki_db or wiki_of(options.name),
        model_version=model.version or str(version),
        demonstration=options.demonstration,
        source=Source(kind=model.kind, name=model.source["file"], sha512={model.source["file"]: model.source["sha512"]},
                      class_name=model.source["class"]),
        inputs=[CardTensor(name=INPUT, datatype="FP32", shape=[-1, model.n_features])],
        outputs=[CardTensor(name=OUTPUT, datatype="FP32", shape=[-1, len(labels)])],
        labels=labels,
        multilabel=model.multilabel,
        features=_feature_names(model, options),
        params=model.params,
        statistics=model.statistics,
        parity=result,
        exporter=exporter_info("tree"),
        libraries=library_versions(LIBRARIES),
    )


def export_tree(model_file: Path, options: TreeExportOptions) -> dict[str, Any]:
    """Export, check parity, write atomically; raise ExportError with nothing written."""
    steps = tqdm(total=4, desc=f"export {options.name}", unit="step", disable=not options.progress)
    repository = Path(options.repository)
    with staged_version(repository, options.name, options.version, options.force) as (folder, version):
        model = load_model(Path(model_file))
        vectors = word_vectors.layout_of(model)
        X, inputs = _parity_inputs(model, options)
        steps.update()
        trees = to_onnx(model)
        onnx_bytes = trees.SerializeToString()
        steps.update()
        result = parity.require(check_parity(model, onnx_bytes, X, inputs, options.tolerance, options.progress))
        if vectors is not None:  # then the whole graph, from word ids
            onnx_bytes = word_vectors.compose_with_trees(vectors, trees).SerializeToString()
            result = parity.require(word_vectors.check_parity(vectors, model, onnx_bytes,
                                                              word_vectors.scalar_rows(vectors, X[:500]),
                                                              options.tolerance))
            word_vectors.write_files(vectors, folder)
        steps.update()
        (folder / "model.onnx").write_bytes(onnx_bytes)
        card = model_card(model, options, result, version)
        if vectors is not None:
            card = card.model_copy(update={"inputs": vectors.card_inputs(), "word_vectors": vectors.info()})
        if model.revscoring_features is not None:
            dump_features(vectors.solve_list(model.revscoring_features) if vectors else model.revscoring_features,
                          folder)
        write_card(folder, card)
    publish_model_files(repository, options.name, render_config(entry_config(model, options, vectors)),
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
        "parity": result.model_dump(),
    }
