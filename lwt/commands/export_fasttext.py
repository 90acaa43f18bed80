"""`lwt export fasttext MODEL`: a fastText classifier (`.bin` or quantized `.ftz`) -> ONNX.

Registered through `FAMILIES` in `lwt.commands.export`, whose shared options and summary
it uses (`shared.*` at call time: that module imports this one while it loads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exporters.settings import settings
from lwt.commands import export as shared

FASTTEXT_SERVICES = ("langid", "outlink-topic-model")


def register_kind(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("fasttext", help="fastText supervised model (.bin or quantized .ftz) -> ONNX")
    parser.add_argument("model_file", type=Path, metavar="MODEL", help="a fastText .bin or .ftz classifier")
    parser.add_argument("--service", choices=FASTTEXT_SERVICES,
                        help="the transformer service that answers for it (default: none, Triton only)")
    parser.add_argument("--max-text-chars", type=shared.positive,
                        help="the service cuts texts to this many characters (langid: Lift Wing's 100)")
    parser.add_argument("--wiki-db", help="the wiki the model belongs to (default: from the name, if any)")
    parser.add_argument("--demonstration", action="store_true", help="mark the card as a demonstration model")
    shared.add_entry_options(parser, settings().fasttext_max_batch_size)
    parser.set_defaults(handler=_export_fasttext)


def _export_fasttext(args: argparse.Namespace) -> int:
    from exporters.fasttext.export import FastTextExportOptions, export_fasttext

    options = FastTextExportOptions(
        name=args.name, repository=args.repository, version=args.version, max_batch_size=args.max_batch_size,
        instance_count=args.instance_count, gpu=args.gpu, force=args.force, progress=shared.progress(args),
        service=args.service, wiki_db=args.wiki_db, demonstration=args.demonstration,
        max_text_chars=args.max_text_chars,
    )
    shared.print_summary(export_fasttext(args.model_file, options), args.json)
    return 0
