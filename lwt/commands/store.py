"""`lwt store up|down`, `lwt push`, `lwt pull`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from exporters.contract.errors import StoreError

PIDFILE = "store.pid"


def register(commands: argparse._SubParsersAction) -> None:
    store = commands.add_parser("store", help="a local OpenStack Swift with the S3 API, on 127.0.0.1")
    actions = store.add_subparsers(dest="action", required=True, metavar="{up,down}")
    up = actions.add_parser("up", help="start Swift in the foreground and print the client's export lines")
    up.add_argument("--dir", required=True, type=Path, help="folder for rings, configs, data and logs")
    up.add_argument("--port", type=int, default=16080, help="S3/Swift proxy port (default 16080)")
    up.set_defaults(handler=_up, foreground=True)
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


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def _push(args: argparse.Namespace) -> int:
    from exporters.store.push import push
    from exporters.store.s3 import client, endpoint_url

    published = push(args.source, args.target, client(endpoint_url(args.endpoint_url)), _models(args.models),
                     _progress(args))
    if args.json:
        print(json.dumps(published, indent=2))
    else:
        for item in published:
            print(f"published {item['model']} version {item['version']} ({item['files']} files) -> {item['url']}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from exporters.store.pull import pull_verified
    from exporters.store.s3 import client, endpoint_url

    pulled = pull_verified(args.source, args.target, client(endpoint_url(args.endpoint_url)), _models(args.models),
                           _progress(args))
    if args.json:
        print(json.dumps(pulled, indent=2))
    else:
        for item in pulled:
            print(f"verified {item['model']} versions {item['versions']} "
                  f"({item['downloaded']} downloaded, {item['skipped']} already verified)")
    return 0


def _up(args: argparse.Namespace) -> int:
    from lwt.stack.process import foreground
    from lwt.stack.swift import SwiftStore

    args.dir.mkdir(parents=True, exist_ok=True)
    store = SwiftStore(args.dir, args.port)
    foreground(store, args.dir.resolve() / PIDFILE, lambda: [
        *(f"export {key}={value}" for key, value in store.environment().items()),
        f"# Swift ready at {store.endpoint} (S3 API and /auth/v1.0); Ctrl-C or `lwt store down --dir {args.dir}` stops it"])
    return 0


def _down(args: argparse.Namespace) -> int:
    from lwt.stack.process import stop_by_pidfile

    stop_by_pidfile(args.dir.resolve() / PIDFILE, "store", StoreError)
    print("store stopped")
    return 0
