"""The `lwt` console script's entry: SIGINT/SIGTERM are caught before the heavy imports.

Importing every command (numpy, KServe, the Triton client, ...) takes most of a second on a
quiet machine and several on a busy one. A console script that imported `lwt.cli` first
left that window to the default actions: SIGTERM killed `lwt serve` with exit -15 and
SIGINT printed a KeyboardInterrupt traceback. Here the handler is armed by the first line
of ours that runs; a signal during the imports (or the argument parsing) is held and acted
on once the arguments say whether the command is a foreground server (exit 0) or not (130).
"""

from __future__ import annotations

from lwt.stack.shutdown import shutdown


def main(argv: list[str] | None = None) -> int:
    shutdown.install()
    with shutdown.deferred(raise_after=False):  # the heavy imports, once a signal can be heard
        from lwt import cli
    return cli.main(argv)
