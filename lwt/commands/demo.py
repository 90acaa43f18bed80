"""`lwt demo`: the whole path on embedded defaults (what `make demo` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="export, store, pull, serve and score: the whole path, then keep serving")
    demo.add_argument("--workdir", type=Path, help="where everything is built (default: a temp folder)")
    demo.add_argument("--http-port", type=int, default=8000)
    demo.add_argument("--grpc-port", type=int, default=8001)
    demo.add_argument("--metrics-port", type=int, default=8002)
    demo.add_argument("--services-port", type=int, default=8080)
    demo.add_argument("--store-port", type=int, default=16080)
    demo.add_argument("--wiki-port", type=int, default=18080)
    demo.add_argument("--no-transformers", action="store_true", help="skip the mini-embedding model")
    demo.add_argument("--no-wait", action="store_true", help="stop after scoring instead of serving on")
    demo.set_defaults(handler=_run, foreground=True)



def _run(args: argparse.Namespace) -> int:
    from lwt.demo import run

    return run(args)
