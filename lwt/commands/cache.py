"""`lwt cache up|down`: a local Redis for the score cache, in the foreground."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

PIDFILE = "cache.pid"


def register(commands: argparse._SubParsersAction) -> None:
    cache = commands.add_parser("cache", help="a local Redis for the score cache (Debian's redis-server), on 127.0.0.1")
    actions = cache.add_subparsers(dest="action", required=True, metavar="{up,down}")
    up = actions.add_parser("up", help="start Redis in the foreground and print the --cache URL for the services")
    up.add_argument("--port", type=int, default=16379, help="port (default 16379)")
    up.add_argument("--dir", type=Path, help="folder for its log and pidfile (default: a temp folder)")
    up.add_argument("--max-memory", default="256mb", help="Redis maxmemory; least recently used keys go first "
                                                          "(default 256mb)")
    up.set_defaults(handler=_up, foreground=True)
    down = actions.add_parser("down", help="stop the Redis started by `lwt cache up --dir DIR`")
    down.add_argument("--dir", required=True, type=Path)
    down.set_defaults(handler=_down)


def _up(args: argparse.Namespace) -> int:
    from lwt.stack.process import foreground
    from lwt.stack.redis import RedisServer

    folder = (args.dir or Path(tempfile.mkdtemp(prefix="lwt-cache-"))).resolve()
    server = RedisServer(folder, args.port, args.max_memory)
    foreground(server, folder / PIDFILE, lambda: [
        f"export LWT_CACHE={server.url}",
        f"# Redis ready at 127.0.0.1:{args.port} (log {server.log_path}); `lwt services --cache {server.url}` "
        f"uses it; Ctrl-C or `lwt cache down --dir {folder}` stops it"])
    return 0


def _down(args: argparse.Namespace) -> int:
    from lwt.stack.process import stop_by_pidfile
    from lwt.stack.redis import CacheError

    stop_by_pidfile(args.dir.resolve() / PIDFILE, "cache", CacheError)
    print("cache stopped")
    return 0
