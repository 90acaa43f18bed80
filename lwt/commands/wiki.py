"""`lwt wiki up|down`: a real local MediaWiki in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from lwt.stack.process import foreground, stop_by_pidfile
from lwt.stack.wiki import LocalWiki, WikiError

PIDFILE = "wiki.pid"


def register(commands: argparse._SubParsersAction) -> None:
    wiki = commands.add_parser("wiki", help="a real local MediaWiki (Debian's 1.39, SQLite, nginx + PHP-FPM) on 127.0.0.1")
    actions = wiki.add_subparsers(dest="action", required=True, metavar="{up,down}")
    up = actions.add_parser("up", help="install, import the dump and serve api.php until Ctrl-C")
    up.add_argument("--dir", required=True, type=Path, help="a folder for the wiki (an existing one is served again)")
    up.add_argument("--port", type=int, default=18080, help="port (default 18080)")
    up.add_argument("--dump", type=Path, action="append",
                    help="XML dump to import; repeat for several (default: every shipped fixture dump)")
    up.add_argument("--server", choices=["nginx", "builtin"], default="nginx",
                    help="nginx + PHP-FPM (default, production-like) or PHP's development server (php -S)")
    up.add_argument("--php-workers", type=int, default=4, help="PHP worker processes (default 4)")
    up.set_defaults(handler=_up, foreground=True)
    down = actions.add_parser("down", help="stop the wiki started by `lwt wiki up --dir DIR`")
    down.add_argument("--dir", required=True, type=Path)
    down.set_defaults(handler=_down)


def _up(args: argparse.Namespace) -> int:
    wiki = LocalWiki(args.dir, args.port, args.dump, server=args.server, php_workers=args.php_workers)
    foreground(wiki, wiki.folder / PIDFILE, lambda: [
        f"MediaWiki API ready: {wiki.api_url}",
        f"# revision ids by role: {wiki.folder / 'revisions.json'}; Ctrl-C or `lwt wiki down --dir {args.dir}` stops it"])
    return 0


def _down(args: argparse.Namespace) -> int:
    stop_by_pidfile(args.dir.resolve() / PIDFILE, "wiki", WikiError)
    print("wiki stopped")
    return 0
