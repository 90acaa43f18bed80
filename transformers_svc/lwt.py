"""`lwt`: the one command line of liftwing-triton. Each package registers its subcommands."""

from __future__ import annotations

import argparse
import logging
import sys

from benchmarks import cli as bench_cli
from exporters import cli as export_cli
from exporters.errors import ExportError, StoreError
from exporters.store import cli as store_cli
from transformers_svc import chart_values, cli_serve, demo, logs, model_server
from transformers_svc.errors import FeatureMismatch
from transformers_svc.mediawiki import cli as wiki_cli
from transformers_svc.mediawiki.local_wiki import WikiError
from transformers_svc.triton.server import ServerError

# Every error a user can cause maps to a one-line message and an exit code; no traceback.
EXIT_CODES: dict[type[Exception], int] = {
    ExportError: 2, ServerError: 1, StoreError: 1, WikiError: 1, FeatureMismatch: 1,
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="lwt", description="Export, store, serve and benchmark Lift Wing models on Triton."
    )
    root.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export_cli.register(commands)
    store_cli.register(commands)
    cli_serve.register(commands)
    model_server.register(commands)
    wiki_cli.register(commands)
    chart_values.register(commands)
    bench_cli.register(commands)
    demo.register(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        return int(args.handler(args) or 0)
    except tuple(EXIT_CODES) as exc:
        print(f"lwt: error: {exc}", file=sys.stderr)
        return next(code for kind, code in EXIT_CODES.items() if isinstance(exc, kind))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not a user error: one line, the traceback only in DEBUG logs
        logging.getLogger("lwt").debug("unexpected error", exc_info=exc)
        print(f"lwt: error: unexpected {type(exc).__name__}: {exc} (--log-level DEBUG shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
