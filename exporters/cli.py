"""`lwt export ...`: the exporters' command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_entry_options(parser: argparse.ArgumentParser) -> None:
    """Options every exporter shares: where the entry goes and how Triton batches it."""
    parser.add_argument("--name", required=True, help="model name in the repository")
    parser.add_argument("--repository", required=True, type=Path, help="Triton model repository folder")
    parser.add_argument("--version", type=_positive, help="version number (default: next free)")
    parser.add_argument("--max-batch-size", type=_positive, default=64, help="config max_batch_size (default 64)")
    parser.add_argument("--instance-count", type=_positive, default=1, help="instances per model (default 1)")
    parser.add_argument("--gpu", action="store_true", help="KIND_GPU instance group and CUDA execution provider")
    parser.add_argument("--force", action="store_true", help="replace an existing version")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a trained model into a Triton repository")
    kinds = export.add_subparsers(dest="kind", required=True, metavar="{tree,transformer,shipped}")

    tree = kinds.add_parser("tree", help="scikit-learn, XGBoost, LightGBM or revscoring model -> ONNX")
    tree.add_argument("model_file", type=Path, metavar="MODEL_FILE")
    tree.add_argument("--verify-data", type=Path, help="rows for the parity check (.tsv/.csv[.bz2] or .npy)")
    add_entry_options(tree)
    tree.set_defaults(handler=_export_tree)

    shipped = kinds.add_parser("shipped", help="train and export the models this project ships")
    shipped.add_argument("--repository", required=True, type=Path)
    shipped.add_argument("--force", action="store_true", help="replace existing versions")
    shipped.add_argument("--json", action="store_true")
    shipped.add_argument("--no-progress", action="store_true")
    shipped.set_defaults(handler=_export_shipped)


def _print(summary: object, as_json: bool) -> None:
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
        force=args.force, progress=not args.no_progress and sys.stderr.isatty(),
    )
    _print(export_tree(args.model_file, options), args.json)
    return 0


def _export_shipped(args: argparse.Namespace) -> int:
    from exporters.shipped import export_shipped

    _print(export_shipped(args.repository, force=args.force, progress=not args.no_progress), args.json)
    return 0
