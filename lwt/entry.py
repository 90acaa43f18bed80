"""The `lwt` console script's entry: SIGINT/SIGTERM are caught before the heavy imports.

Importing every command (numpy, KServe, the Triton client, ...) takes most of a second on a
quiet machine and several on a busy one. A console script that imported `lwt.cli` first
left that window to the default actions: SIGTERM killed `lwt serve` with exit -15 and
SIGINT printed a KeyboardInterrupt traceback. Here the handler is armed inside a held
section that spans the imports and the argument parsing, so no moment is left uncovered: a
signal in it is acted on once the arguments say whether the command is a foreground server
(exit 0) or not (130), and one while the command runs the same way.
"""

from __future__ import annotations

from lwt.stack.shutdown import Interrupted, shutdown


def main(argv: list[str] | None = None) -> int:
    args: object = None
    try:
        with shutdown.deferred(raise_after=False):
            shutdown.install()
            from lwt import cli  # the heavy imports, once a signal can be heard

            args = cli.parser().parse_args(argv)
        return cli.run(args)
    except Interrupted:
        return 0 if getattr(args, "foreground", False) else 130
