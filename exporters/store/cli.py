"""`lwt store up|down`, `lwt push`, `lwt pull`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from exporters.errors import StoreError

PIDFILE = "store.pid"


def register(commands: argparse._SubParsersAction) -> None:
    store = commands.add_parser("store", help="a local OpenStack Swift with the S3 API, on 127.0.0.1")
    actions = store.add_subparsers(dest="action", required=True, metavar="{up,down}")
    up = actions.add_parser("up", help="start Swift in the foreground and print the client's export lines")
    up.add_argument("--dir", required=True, type=Path, help="folder for rings, configs, data and logs")
    up.add_argument("--port", type=int, default=16080, help="S3/Swift proxy port (default 16080)")
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop the Swift started by `lwt store up --dir DIR`")
    down.add_argument("--dir", required=True, type=Path)
    down.set_defaults(handler=_down)

    for name, helptext in (("push", "upload model versions to s3://BUCKET/PREFIX (SHA512SUMS last)"),
                           ("pull", "download and sha512-verify models from s3://BUCKET/PREFIX")):
        parser = commands.add_parser(name, help=helptext)
        if name == "push":
            parser.add_argument("source", type=Path, metavar="REPOSITORY_DIR")
            parser.add_argument("target", metavar="s3://BUCKET/PREFIX")
        else:
            parser.add_argument("source", metavar="s3://BUCKET/PREFIX")
            parser.add_argument("target", type=Path, metavar="DIR")
        parser.add_argument("--models", help="comma-separated model names (default: all)")
        parser.add_argument("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL)")
        parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
        parser.add_argument("--no-progress", action="store_true")
        parser.set_defaults(handler=_push if name == "push" else _pull)


def _models(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def s3_client(endpoint_url: str | None):
    from exporters.store.s3 import client

    return client(endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def _push(args: argparse.Namespace) -> int:
    from exporters.store.push import push

    published = push(args.source, args.target, s3_client(args.endpoint_url), _models(args.models), _progress(args))
    if args.json:
        print(json.dumps(published, indent=2))
    else:
        for item in published:
            print(f"published {item['model']} version {item['version']} ({item['files']} files) -> {item['url']}")
    return 0


def pull_or_fail(url: str, target: Path, endpoint_url: str | None, models: list[str] | None,
                 progress: bool) -> list[dict]:
    """Pull; raise StoreError naming every refused model (exit non-zero)."""
    from exporters.store.pull import pull

    result = pull(url, target, s3_client(endpoint_url), models, progress)
    if result.refused:
        reasons = "; ".join(f"{name}: {why}" for name, why in result.refused.items())
        raise StoreError(f"refused {len(result.refused)} model(s), nothing of them left in {target}: {reasons}")
    return result.pulled


def _pull(args: argparse.Namespace) -> int:
    pulled = pull_or_fail(args.source, args.target, args.endpoint_url, _models(args.models), _progress(args))
    if args.json:
        print(json.dumps(pulled, indent=2))
    else:
        for item in pulled:
            print(f"verified {item['model']} versions {item['versions']} "
                  f"({item['downloaded']} downloaded, {item['skipped']} already verified)")
    return 0


def _up(args: argparse.Namespace) -> int:
    from exporters.store.swift_server import SwiftStore
    from transformers_svc.processes import foreground

    args.dir.mkdir(parents=True, exist_ok=True)
    store = SwiftStore(args.dir, args.port).start()
    lines = [f"export {key}={value}" for key, value in store.environment().items()]
    lines.append(f"# Swift ready at {store.endpoint} (S3 API and /auth/v1.0); Ctrl-C or "
                 f"`lwt store down --dir {args.dir}` stops it")
    foreground(args.dir.resolve() / PIDFILE, lines, lambda: all(p.poll() is None for p in store.processes),
               store.stop)
    return 0


def _down(args: argparse.Namespace) -> int:
    from transformers_svc.processes import stop_by_pidfile

    stop_by_pidfile(args.dir.resolve() / PIDFILE, "store", StoreError)
    print("store stopped")
    return 0
