"""`lwt bench compare|services|tune`: measurements, side by side in one run."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
from pathlib import Path

from exporters.contract.errors import UsageError

RESULTS = Path("results")


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="rps and latency against SLOs, side by side with today's server")
    actions = bench.add_subparsers(dest="action", required=True, metavar="{compare,services,ores,slo,chaos,tune}")
    compare = actions.add_parser("compare", help="baseline vs Triton (batching off/on) vs identity, in one run")
    compare.add_argument("model", metavar="MODEL",
                         help="enwiki-reverted, damaging-size (80 features, 500 trees), bert-base, bert-tiny, langid, "
                              "mini-embedding, revertrisk-la or article-descriptions")
    compare.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    compare.add_argument("--concurrency", type=int, help="concurrent clients (default 16; 8 for BERT)")
    compare.add_argument("--slo", help="e.g. p99<=50ms: checked, and the max rps within it found by a rate sweep")
    compare.add_argument("--scenarios", help="comma-separated subset of scenario names")
    compare.add_argument("--json", type=Path, help="also write the scenario list to this file")
    compare.add_argument("--results", type=Path, default=RESULTS, help="folder for JSON, Markdown and PNG")
    compare.add_argument("--no-wrk", action="store_true", help="Python load generator for REST too")
    compare.add_argument("--lengths", metavar="fixture|FILE",
                         help="text models: draw request lengths from the fixture wiki's revision texts (or a file's "
                              "lines) instead of a fixed 128; one Triton scenario per padding bucket")
    compare.set_defaults(handler=_compare)
    services = actions.add_parser("services", help="the transformer services' own overhead (minus MediaWiki and "
                                                   "Triton) and their throughput with 1 and 2 workers")
    services.add_argument("--requests", type=int, default=0,
                          help="revisions in the sequential overhead pass (default: every scorable fixture revision)")
    services.add_argument("--duration", type=float, default=10.0, help="seconds of closed-loop load (default 10)")
    services.add_argument("--concurrency", type=int, default=8)
    services.add_argument("--workers", default="1,2", help="service worker counts to compare (default 1,2)")
    services.add_argument("--mediawiki-latency", type=float, default=0.0, metavar="MS",
                          help="add MS milliseconds to every MediaWiki call (a proxy), as slow as production")
    services.add_argument("--json", type=Path, help="also write the result to this file")
    services.add_argument("--model", choices=["enwiki-reverted", "revertrisk-language-agnostic"],
                          default="enwiki-reverted", help="the service measured (default enwiki-reverted)")
    services.set_defaults(handler=_services)
    ores = actions.add_parser("ores", help="3 models x 50 revisions: one ORES v3 request vs 150 single calls "
                                           "vs a warm cache")
    ores.add_argument("--rounds", type=int, default=5, help="repetitions of the v3 request and of the 150 calls")
    ores.add_argument("--cached-requests", type=int, default=300, help="warm-cache v3 requests (default 300)")
    ores.add_argument("--concurrency", type=int, default=8, help="client concurrency of the single calls (default 8)")
    ores.add_argument("--cache", choices=["memory", "redis"], default="memory",
                      help="the warm cache: the embedded LRU (default) or a Redis started here")
    ores.add_argument("--mediawiki-latency", type=float, default=0.0, metavar="MS",
                      help="add MS milliseconds to every MediaWiki call (a proxy), as slow as production")
    ores.add_argument("--json", type=Path, help="also write the scenario list to this file")
    ores.set_defaults(handler=_ores)
    chaos = actions.add_parser("chaos", help="requests by status, time to first error and to recovery, hung and "
                                             "lost answers while Triton, MediaWiki (and Redis) fail")
    chaos.add_argument("--rate", type=float, default=10.0, help="requests/s of the bounded open-loop load (default 10)")
    chaos.add_argument("--hold", type=float, default=4.0, help="seconds each fault lasts (default 4)")
    chaos.add_argument("--settle", type=float, default=12.0, help="seconds of load after each repair (default 12)")
    chaos.add_argument("--faults", help="comma-separated subset: triton-stopped, triton-killed, mediawiki-stopped, "
                                        "mediawiki-slow, redis-stopped")
    chaos.add_argument("--cache", choices=["none", "redis"], default="none",
                       help="redis: a shared Redis score cache, and the redis-stopped fault (default none)")
    chaos.add_argument("--json", type=Path, help="also write the result to this file")
    chaos.set_defaults(handler=_chaos)
    slo = actions.add_parser("slo", help="the most rps within an SLO: an open-loop (k6) rate sweep through the "
                                         "whole path, with a report for a hosting request")
    slo.add_argument("model", metavar="MODEL", help="a model of model_repository/ (e.g. enwiki-reverted)")
    slo.add_argument("--slo", required=True, help="e.g. p99<=500ms")
    slo.add_argument("--through", choices=["services", "triton"], default="services",
                     help="the services (with the local wiki) or Triton alone (default services)")
    slo.add_argument("--start", type=float, default=10.0, help="first offered rate, requests/s (default 10)")
    slo.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")
    slo.add_argument("--steps", type=int, default=8, help="rates tried at most (default 8)")
    slo.add_argument("--workers", type=int, default=1, help="service workers (default 1)")
    slo.add_argument("--results", type=Path, default=RESULTS, help="folder for JSON, Markdown and PNG")
    slo.add_argument("--json", type=Path, help="also write the result to this file")
    slo.set_defaults(handler=_slo_sweep)
    tune = actions.add_parser("tune", help="sweep queue delay, preferred batch sizes and instances")
    tune.add_argument("model", metavar="MODEL")
    tune.add_argument("--duration", type=float, default=5.0, help="seconds per trial (default 5)")
    tune.add_argument("--concurrency", type=int, default=16)
    tune.add_argument("--slo", help="e.g. p99<=10ms (default: the most rps)")
    tune.add_argument("--output", type=Path, help="where the winning config.pbtxt goes")
    tune.add_argument("--results", type=Path, default=RESULTS)
    tune.set_defaults(handler=_tune)


def _slo(text: str | None):
    from benchmarks.sweep import Slo

    if text is None:
        return None
    try:
        return Slo.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _bench_model(name: str):
    from benchmarks.models import build

    try:
        return build(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _compare(args: argparse.Namespace) -> int:
    from benchmarks import report
    from benchmarks.compare import compare

    slo = _slo(args.slo)
    bench = _bench_model(args.model)
    if args.lengths:
        from benchmarks.lengths import with_lengths

        try:
            bench = with_lengths(bench, args.lengths)
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from exc
    concurrency = args.concurrency or (8 if bench.kind == "text" else 16)
    only = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else None
    with tempfile.TemporaryDirectory(prefix="lwt-bench-") as work:
        results = compare(bench, Path(work), args.duration, concurrency, only, slo, use_wrk=not args.no_wrk)
    command = "lwt bench " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("compare"):]) \
        if "compare" in sys.argv else f"lwt bench compare {args.model}"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    paths = report.write(args.results / stamp, args.model, results, command)
    slim = [{k: r[k] for k in ("name", "rps", "p50_ms", "p90_ms", "p99_ms", "errors")} | (
        {"max_rps_within_slo": r["slo"]["max_rps_within_slo"]} if "slo" in r else {}) for r in results]
    if args.json:
        args.json.write_text(json.dumps(slim, indent=2))
    print(paths["markdown"].read_text())
    if bench.lengths:
        print(f"request lengths ({bench.lengths['source']}, {bench.lengths['requests']} requests): p50 "
              f"{bench.lengths['p50_tokens']:g}, p90 {bench.lengths['p90_tokens']:g}, max {bench.lengths['max_tokens']} "
              f"tokens; padding waste (padded / real tokens - 1) by bucket: "
              + ", ".join(f"{k} {v:.0%}" for k, v in bench.lengths["padding_waste"].items()))
    print(f"results: {paths['json']}, {paths['png']}")
    if slo is not None:
        met = [r["name"] for r in results if slo.met(r)]
        print(f"SLO {slo}: met by {', '.join(met) or 'no scenario'} at full closed-loop load")
    return 0


def _services(args: argparse.Namespace) -> int:
    from benchmarks.services import measure_services

    if args.model == "revertrisk-language-agnostic":
        return _services_revertrisk(args)
    try:
        workers = tuple(int(w) for w in args.workers.split(","))
    except ValueError:
        raise UsageError(f"--workers takes counts such as 1,2, not {args.workers!r}") from None
    result = measure_services(args.requests, args.duration, args.concurrency, workers, args.mediawiki_latency)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    own = result["overhead"]
    print(f"services overhead (request in to response out, minus MediaWiki and Triton): p50 "
          f"{own['overhead_p50_ms']} ms, p90 {own['overhead_p90_ms']} ms over {own['requests']} revisions; "
          f"stage medians {own['stage_medians_ms']}")
    for row in result["throughput"]:
        print(f"whole path, {row['workers']} worker(s), {args.concurrency} clients: {row['rps']} rps, "
              f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, {row['errors']} errors")
    for row in result.get("slow_mediawiki", []):
        print(f"MediaWiki +{args.mediawiki_latency:g} ms per call, {row['requests']}: {row['rps']} requests/s = "
              f"{row['revisions_per_s']} revisions/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
              f"{row['errors']} errors")
    return 0


def _services_revertrisk(args: argparse.Namespace) -> int:
    from benchmarks.services import measure_revertrisk

    result = measure_revertrisk(args.duration, args.concurrency)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    for form in ("single", "instances_x20"):
        own = result[form]
        print(f"revertrisk-language-agnostic {form}: overhead (minus MediaWiki and Triton) p50 {own['overhead_p50_ms']} "
              f"ms, p90 {own['overhead_p90_ms']} ms over {own['requests']} requests; client p50 "
              f"{own['client_p50_ms']} ms; stage medians {own['stage_medians']}; at most "
              f"{own['max_mediawiki_calls']} MediaWiki calls per request")
    load = result["closed_loop"]
    print(f"whole path, {args.concurrency} clients: {load['rps']} rps, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
          f"{load['errors']} errors")
    return 0


def _ores(args: argparse.Namespace) -> int:
    from benchmarks.ores import machine_note, measure_ores

    if min(args.rounds, args.cached_requests, args.concurrency) < 1:
        raise UsageError("--rounds, --cached-requests and --concurrency must be at least 1")
    results = measure_ores(args.rounds, args.cached_requests, args.concurrency, args.cache, args.mediawiki_latency)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("| scenario | wall s | rps | p50 ms | p99 ms | errors | services' stage medians (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['wall_s']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
              f"{r.get('stages_ms', {})} |")
    by_name = {r["name"]: r for r in results}
    speedup = by_name["single-calls"]["wall_s"] / by_name["ores-v3"]["wall_s"]
    print(f"3 models x 50 revisions: one v3 request is {speedup:.1f}x faster than 150 single calls "
          f"(target >= 10x); warm-cache p50 {by_name['ores-v3-cached']['p50_ms']} ms (target <= 2 ms); "
          f"{machine_note()}")
    return 0


def _chaos(args: argparse.Namespace) -> int:
    from benchmarks.chaos import measure_chaos

    only = [f.strip() for f in args.faults.split(",")] if args.faults else None
    results = measure_chaos(args.rate, args.hold, args.settle, only, args.cache)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("| fault | requests | by status | first error after (s) | recovered after repair (s) | hung | lost |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        statuses = ", ".join(f"{k}: {v}" for k, v in r["by_status"].items())
        print(f"| {r['fault']} | {r['requests']} | {statuses} | {r['first_error_after_s']} | "
              f"{r['recovered_after_repair_s']} | {r['hung']} | {r['lost']} |")
    return 0 if all(r["hung"] == 0 and r["lost"] == 0 for r in results) else 1


def _slo_sweep(args: argparse.Namespace) -> int:
    from benchmarks.slo import measure_slo, write

    slo = _slo(args.slo)
    try:
        result = measure_slo(args.model, slo, args.through, args.start, args.duration, args.steps, args.workers)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    command = "lwt bench " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("slo"):]) \
        if "slo" in sys.argv else f"lwt bench slo {args.model}"
    paths = write(result, args.results / dt.datetime.now().strftime("%Y%m%d-%H%M%S"), command)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(paths["markdown"].read_text())
    print(f"results: {paths['json']}, {paths['png']}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from benchmarks.tune import tune

    bench = _bench_model(args.model)
    output = args.output or args.results / f"{args.model}.tuned.pbtxt"
    with tempfile.TemporaryDirectory(prefix="lwt-tune-") as work:
        summary = tune(bench, Path(work), args.duration, args.concurrency, _slo(args.slo), output)
    best = summary["best"]
    print(f"best for {args.model}: queue delay {best['max_queue_delay_microseconds']} us, preferred "
          f"{best['preferred_batch_size'] or 'none'}, {best['instance_count']} instance(s): {best['rps']} rps, "
          f"p99 {best['p99_ms']} ms{'' if summary['met_slo'] else ' (no trial met the SLO)'}; config -> {output}")
    return 0
