"""`lwt`: the one command line of liftwing-triton; each command module registers its own.

Exit codes come from the error taxonomy (`exporters.contract.errors`): every error a user
can cause is an `LwtError` carrying its code (usage and export errors 2, the rest 1), and
is printed as one line on stderr, never a traceback. SIGINT/SIGTERM are handled by
`lwt.entry`, from before these imports: a foreground server (`serve`, `services`,
`store up`, `wiki up`, `cache up`, `demo`, `precache`) stops everything it started and
exits 0; any other command exits 130.
"""

from __future__ import annotations

import argparse
import logging
import sys

from exporters.contract.errors import LwtError
from lwt import logs
from lwt.commands import bench, cache, chart, demo, export, index, precache, serve, services, store, wiki
from lwt.stack.shutdown import shutdown

COMMANDS = (export, store, serve, services, wiki, chart, bench, demo, index, cache, precache)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit code 2 like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"lwt: error: {message}", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="lwt", description="Export, store, serve and benchmark Lift Wing models on Triton.")
    root.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                      type=str.upper, help="log level (default INFO)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS:
        module.register(commands)
    return root


def run(args: argparse.Namespace) -> int:
    """Run a parsed command: a user's error is one line and its exit code. `Interrupted`
    goes up to `lwt.entry`, the one place that turns a signal into an exit code."""
    try:
        shutdown.check()  # a signal held while importing and parsing
        logs.configure(args.log_level)
        return int(args.handler(args) or 0)
    except LwtError as exc:
        print(f"lwt: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, not a user error: one line, the traceback only in DEBUG logs
        logging.getLogger("lwt").debug("unexpected error", exc_info=exc)
        print(f"lwt: error: unexpected {type(exc).__name__}: {exc} (--log-level DEBUG shows the traceback)",
              file=sys.stderr)
        return 1
