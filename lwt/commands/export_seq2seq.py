"""`lwt export seq2seq MODEL_DIR`: an mBART encoder-decoder -> the encoder entry and the
generator entry (decoder steps with the caches kept in Triton), parity-checked.

Registered through `FAMILIES` in `lwt.commands.export`, whose shared options and summary
it uses (`shared.*` at call time: that module imports this one while it loads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lwt.commands import export as shared


def register_kind(kinds: argparse._SubParsersAction) -> None:
    seq2seq = kinds.add_parser("seq2seq", help="mBART save_pretrained folder -> encoder + generator entries")
    seq2seq.add_argument("model_dir", metavar="MODEL_DIR", help="a save_pretrained() folder (mBART)")
    seq2seq.add_argument("--quantize", choices=["int8"], help="int8 graphs (token agreement with fp32 in the card)")
    seq2seq.add_argument("--tolerance", type=float, default=1e-4,
                         help="first-step logits, max abs difference from PyTorch (default 1e-4)")
    seq2seq.add_argument("--parity-inputs", type=shared.positive, default=26,
                         help="sample leads checked for identical tokens, x greedy/beam 2/beam 4 (default 26)")
    seq2seq.add_argument("--threads", type=int, default=0,
                         help="onnxruntime threads per entry (default 0: one per core)")
    seq2seq.add_argument("--demonstration", action="store_true", help="mark the card: random weights, not a model")
    shared.add_entry_options(seq2seq, 64)
    seq2seq.set_defaults(handler=_export_seq2seq)


def _export_seq2seq(args: argparse.Namespace) -> int:
    # Imported when the command runs, as every `lwt` command imports its work: torch,
    # transformers and onnxruntime's quantiser take 5-25 s to import, which every `lwt`
    # invocation (and `lwt --help`) would pay if this module imported them at its top.
    from exporters.seq2seq.export import Seq2SeqExportOptions, export_seq2seq

    options = Seq2SeqExportOptions(
        name=args.name, repository=args.repository, quantize=args.quantize, max_batch_size=args.max_batch_size,
        gpu=args.gpu, instance_count=args.instance_count, version=args.version, force=args.force,
        tolerance=args.tolerance, parity_inputs=args.parity_inputs, progress=shared.progress(args),
        threads=args.threads, demonstration=args.demonstration)
    shared.print_summary(export_seq2seq(Path(args.model_dir), options), args.json)
    return 0
