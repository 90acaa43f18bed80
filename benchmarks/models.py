"""The models the benchmarks compare, built here (offline) and cached in `.cache/bench/`.

- `enwiki-reverted`: the shipped revscoring GradientBoosting (9 features), its sklearn
  estimator pickled as Lift Wing loads it;
- `damaging-size`: a GradientBoosting of ORES damaging's size (80 features, 500 trees);
- `bert-base` / `bert-tiny`: BERT classifiers from config (random weights), sequence 128.
Each comes with a Triton repository: the model with dynamic batching, the same without,
and an `identity` model (the protocol ceiling: Triton's and the backend's overhead only).
"""

from __future__ import annotations

import fcntl
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np
import onnx
from google.protobuf import text_format
from onnx import helper
from revscoring import Model
from sklearn.ensemble import GradientBoostingClassifier

from benchmarks import bench_langid, bench_revertrisk
from exporters.contract.layout import CONFIG, publish_model_files, staged_version
from exporters.shipped.enwiki_reverted import TESTING, train_enwiki_reverted
from exporters.tree.export import TreeExportOptions, export_tree
from exporters.triton_config import EntryConfig, Tensor, read_config, render_config
from exporters.verify_data import read_verify_data

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench"
SEQUENCE = 128


@dataclass
class BenchModel:
    name: str
    kind: str  # "tree" or "text" (the default scenarios), or a family's own
    source: Path  # what the baseline server loads (a pickle, a HF directory, a model file)
    repository: Path
    row: dict[str, np.ndarray]  # one request's tensors
    baseline_kind: str = "sklearn"  # benchmarks.baseline_server's --kind
    scenarios: Callable[..., list[Any]] | None = None  # (bench, triton, baseline) -> scenarios; None: by kind
    lengths: dict[str, Any] | None = None  # with --lengths: the request lengths and padding waste per bucket


def _tree_source(name: str, folder: Path) -> tuple[Any, np.ndarray]:
    if name == "enwiki-reverted":
        with open(train_enwiki_reverted(folder / "enwiki-reverted.model"), "rb") as handle:
            estimator = Model.load(handle).estimator
        return estimator, read_verify_data(TESTING, 9)[:256]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 80)).astype(np.float32)
    y = (X[:, :10].sum(axis=1) + rng.normal(size=4000) > 0).astype(int)
    estimator = GradientBoostingClassifier(n_estimators=500, max_depth=5, random_state=0).fit(X, y)
    return estimator, X[:256]


def identity_entry(repository: Path, width: int, dtype: str = "TYPE_FP32") -> None:
    """An ONNX Identity graph behind the same backend: what the path costs without a model."""
    np_type = {"TYPE_FP32": onnx.TensorProto.FLOAT, "TYPE_INT64": onnx.TensorProto.INT64}[dtype]
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "identity",
                              [helper.make_tensor_value_info("input", np_type, [None, width])],
                              [helper.make_tensor_value_info("output", np_type, [None, width])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with staged_version(repository, "identity", 1, force=True) as (folder, _):
        (folder / "model.onnx").write_bytes(model.SerializeToString())
    entry = EntryConfig(name="identity", backend="onnxruntime", inputs=[Tensor("input", dtype, (width,))],
                        outputs=[Tensor("output", dtype, (width,))], max_batch_size=64,
                        parameters={"intra_op_thread_count": "1", "inter_op_thread_count": "1"})
    publish_model_files(repository, "identity", render_config(entry), None)


def unbatched_copy(repository: Path, name: str) -> str:
    """`<name>-nobatch`: the same version, its config without dynamic batching."""
    target = f"{name}-nobatch"
    shutil.rmtree(repository / target, ignore_errors=True)
    shutil.copytree(repository / name, repository / target)
    config = read_config(repository / target / CONFIG)
    config.name = target
    config.ClearField("dynamic_batching")
    (repository / target / CONFIG).write_text(text_format.MessageToString(config))
    return target


def _tree(name: str, folder: Path) -> BenchModel:
    repository, source = folder / "repository", folder / "model.joblib"
    if not (folder / ".built").exists():
        estimator, rows = _tree_source(name, folder)
        joblib.dump(estimator, source)
        np.save(folder / "rows.npy", rows)
        export_tree(source, TreeExportOptions(name=name, repository=repository, version=1, progress=False,
                                              verify_data=folder / "rows.npy"))
        unbatched_copy(repository, name)
        identity_entry(repository, rows.shape[1])
    row = np.load(folder / "rows.npy")[:1]
    return BenchModel(name, "tree", source, repository, {"input": row.astype(np.float32)}, baseline_kind="sklearn")


def _text(name: str, folder: Path) -> BenchModel:
    repository, source = folder / "repository", folder / "hf"
    if not (folder / ".built").exists():
        # Imported here: torch takes seconds to import, and only the text models need it.
        from exporters.transformer.export import TransformerExportOptions, export_transformer
        from exporters.transformer.synthetic import build_bert_classifier

        build_bert_classifier(source, name.split("-")[1])
        for variant, quantize in ((f"{name}-fp32", None), (f"{name}-int8", "int8")):
            export_transformer(source, TransformerExportOptions(
                name=variant, repository=repository, task="sequence-classification", quantize=quantize,
                max_sequence_length=SEQUENCE, version=1, progress=False))
        identity_entry(repository, SEQUENCE, "TYPE_INT64")
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000 if name == "bert-base" else 1999, size=(1, SEQUENCE), dtype=np.int64)
    ids[0, 0] = 2
    row = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return BenchModel(name, "text", source, repository, row, baseline_kind="torch")


def _imported(target: str) -> Callable[[str, Path], BenchModel]:
    """The builder "module:function", imported when called: a family whose module imports
    this one and `benchmarks.compare` at its top (BenchModel, Scenario), and torch, is not
    loaded by every benchmark (as baseline_server's KINDS)."""
    def builder(name: str, folder: Path) -> BenchModel:
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(name, folder)
    return builder


# Benchmark model name -> (builder, description). A family adds its own line.
BUILDERS: dict[str, tuple[Callable[[str, Path], BenchModel], str]] = {
    "enwiki-reverted": (_tree, "the shipped revscoring GradientBoosting (9 features)"),
    "damaging-size": (_tree, "a GradientBoosting of ORES damaging's size (80 features, 500 trees)"),
    "bert-base": (_text, "bert-base-multilingual-shaped classifier, sequence 128"),
    "bert-tiny": (_text, "a tiny BERT classifier (tests)"),
    "langid": (bench_langid.build, "fastText lid.176.ftz: Lift Wing's langid server against Triton (text and ids)"),
    "mini-embedding": (_imported("benchmarks.bench_embedding:build"),
                       "all-MiniLM-L6-v2: PyTorch per request vs Triton fp32/int8; index and related"),
    "revertrisk-la": (bench_revertrisk.build, "an XGBoost over revertrisk-language-agnostic's 68 features, 300 trees: "
                                              "XGBoost per request vs Triton"),
    "article-descriptions": (_imported("benchmarks.bench_descriptions:build"),
                             "mBART-large-shaped generation, beam 2: generate() per request vs the service batching "
                             "every request's steps on Triton (fp32/int8)"),
    "article-descriptions-tiny": (_imported("benchmarks.bench_descriptions:build"),
                                  "the same on a tiny mBART (tests)"),
}


def build(name: str, cache: Path = CACHE) -> BenchModel:
    """The benchmark model, built once into `.cache/bench/<name>/` (under a lock, so two
    sessions on one machine never build into the same folder at once)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown benchmark model {name!r} (one of {', '.join(BUILDERS)})")
    folder = cache / name
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        bench = BUILDERS[name][0](name, folder)
        (folder / ".built").touch()
        return bench
