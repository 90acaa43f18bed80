"""`lwt precache`: score change events into the cache through the services (ORES' precaching,
Lift Wing Streams' revision-score events)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from exporters.contract.errors import UsageError


def _namespaces(text: str) -> list[int]:
    try:
        return [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated namespace numbers, e.g. 0,2,118") from None


def register(commands: argparse._SubParsersAction) -> None:
    precache = commands.add_parser(
        "precache", help="consume mediawiki.page_change / revision-create events and score them into the cache")
    precache.add_argument("--source", required=True, metavar="URL|FILE",
                          help="server-sent events as EventStreams serves them (http(s) URL), or JSON lines "
                               "(a URL or a file), one event each")
    precache.add_argument("--services", required=True, metavar="URL", help="the services, e.g. http://127.0.0.1:8080")
    precache.add_argument("--eventgate-url", metavar="URL",
                          help="also POST one mediawiki.revision_score event per scored revision here "
                               "(EventGate's /v1/events)")
    precache.add_argument("--namespaces", type=_namespaces,
                          help="only events of these namespaces, e.g. 0 (default: every namespace)")
    precache.add_argument("--concurrency", type=int, default=4, help="events scored at a time (default 4)")
    precache.add_argument("--batch-size", type=int, default=20, help="revision-score events per EventGate POST "
                                                                     "(default 20)")
    precache.add_argument("--max-events", type=int, help="stop after this many events (default: when the source ends)")
    precache.add_argument("--max-reconnects", type=int, help="give up after this many reconnects (default: never)")
    precache.add_argument("--json", type=Path, help="also write the summary as JSON to this file")
    precache.set_defaults(handler=_run, foreground=True)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from lwt.stack.process import ServerError
    from transformers_svc.precache import PrecacheError, PrecacheStats, SourceError, precache

    if args.concurrency < 1 or args.batch_size < 1:
        raise UsageError("--concurrency and --batch-size must be at least 1")
    stats = PrecacheStats()
    try:
        asyncio.run(precache(args.source, args.services, stats, args.eventgate_url, args.namespaces,
                             args.concurrency, args.batch_size, args.max_events, args.max_reconnects))
    except SourceError as exc:
        raise (ServerError if args.source.startswith(("http://", "https://")) else UsageError)(str(exc)) from None
    except PrecacheError as exc:
        raise ServerError(str(exc)) from None
    finally:  # also on Ctrl-C: what was done so far
        print(stats.summary(), flush=True)
        if args.json:
            args.json.write_text(json.dumps(stats.as_dict(), indent=2))
    return 0
