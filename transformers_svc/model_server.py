"""One KServe ModelServer hosting every transformer service, on 127.0.0.1 only.

KServe's REST server binds 0.0.0.0 and maps only its own errors; `LoopbackRESTServer`
binds 127.0.0.1 and adds our `ServiceError` handler. Everything else (routes
`/v1/models/<name>:predict` and `/v2/models/<name>/infer`, health, `/metrics`, the
predictor clients) is KServe's. Run as `lwt services` (a child of `lwt serve --services`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from transformers_svc.errors import FeatureMismatch

log = logging.getLogger("lwt.services")


def loopback_rest_server(*args: Any, host: str = "127.0.0.1", **kwargs: Any) -> Any:
    """KServe's RESTServer, bound to `host` and with our ServiceError handler first.

    Imported here, not at module level: `lwt` must not load KServe's gRPC protos in the
    processes that load tritonclient's (they clash in protobuf's default pool)."""
    from kserve.protocol.rest.server import RESTServer

    from transformers_svc.errors import ServiceError, service_error_handler

    class LoopbackRESTServer(RESTServer):
        def _add_exception_handlers(self, app: Any) -> None:
            app.add_exception_handler(ServiceError, service_error_handler)
            super()._add_exception_handlers(app)

    server = LoopbackRESTServer(*args, **kwargs)
    server.config.host = host
    return server


def latest_version(model_dir: Path) -> Path | None:
    versions = sorted((p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    return versions[-1] if versions else None


def wiki_of(name: str, card: dict[str, Any]) -> str:
    return card.get("wiki_db") or name.split("-", 1)[0]


def build_services(repository: Path, mediawiki_url: str | None, only: list[str] | None,
                   timeout: float, retries: int) -> list[Any]:
    """A service (a `kserve.Model`) for each model that has one; refuse on a mismatch."""
    from exporters.model_card import read_card
    from exporters.repository import LABELS
    from transformers_svc.features.registry import features_for
    from transformers_svc.mediawiki.client import MediaWikiClient, api_url_for
    from transformers_svc.revscoring_svc.service import RevscoringService

    services: list[Any] = []
    clients: dict[str, MediaWikiClient] = {}

    def client_for(wiki: str) -> MediaWikiClient:
        url = api_url_for(wiki, mediawiki_url)
        return clients.setdefault(url, MediaWikiClient(url, timeout=timeout, retries=retries))

    for model_dir in sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file()):
        name = model_dir.name
        version = latest_version(model_dir)
        if version is None or not (version / "model.yaml").is_file() or (only and name not in only):
            continue
        card = read_card(version)
        wiki = wiki_of(name, card)
        labels = (model_dir / LABELS).read_text().splitlines() if (model_dir / LABELS).is_file() else card.get("labels", [])
        if card.get("source", {}).get("kind") == "revscoring":
            services.append(RevscoringService(name, card, features_for(name, card["features"]), labels,
                                              client_for(wiki), wiki))
        elif card.get("task") == "sequence-classification" and card.get("tokenizer"):
            from transformers_svc.text_svc.service import TextClassificationService

            text_wiki = card.get("wiki_db") or "enwiki"
            services.append(TextClassificationService(name, card, version / "tokenizer", labels, client_for, text_wiki))
    missing = sorted(set(only or []) - {s.name for s in services})
    if missing:
        raise FeatureMismatch(f"no service can be built for {', '.join(missing)}")
    return services


def run(services: list[Any], port: int, predictor_host: str, protocol: str, timeout: int,
        host: str = "127.0.0.1") -> None:
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING, ModelServer
    from kserve.predictor_config import PredictorConfig

    server = ModelServer(
        http_port=port, enable_grpc=False, workers=1, enable_docs_url=False,
        predictor_config=PredictorConfig(predictor_host=predictor_host, predictor_protocol=protocol,
                                         predictor_request_timeout_seconds=timeout),
    )
    server._register_and_check_atleast_one_model_is_ready(services)  # KServe's own registration
    rest = loopback_rest_server(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension,
                                port, grace_period=5, timeout_keep_alive=65, host=host)
    log.info("services ready", extra={"port": port, "models": [s.name for s in services],
                                      "predictor_host": predictor_host, "protocol": protocol})
    asyncio.run(rest.start())


def register(commands: argparse._SubParsersAction) -> None:
    services = commands.add_parser("services", help="run the KServe transformer services (lwt serve --services starts it)")
    services.add_argument("--repository", required=True, type=Path, help="the model repository Triton serves")
    # KServe appends --model_name, --predictor_host, --http_port (and --predictor_protocol) to a
    # transformer's args: each has an alias here, so the same command runs locally and in a pod.
    services.add_argument("--port", "--http_port", type=int, default=8080, help="HTTP port (default 8080)")
    services.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 in a pod)")
    services.add_argument("--predictor-host", "--predictor_host", default="127.0.0.1:8000",
                          help="Triton host:port (default 127.0.0.1:8000)")
    services.add_argument("--predictor-protocol", "--predictor_protocol", default="v2", choices=["v2", "grpc-v2"],
                          help="v2 REST (to Triton's HTTP port) or grpc-v2 (to its gRPC port)")
    services.add_argument("--models", "--model_name",
                          help="comma-separated model names (default: every model with a service)")
    services.add_argument("--mediawiki-url", help="one Action API URL for every wiki (default: derived per wiki)")
    services.add_argument("--mediawiki-timeout", type=float, default=5.0, help="seconds per MediaWiki call (default 5)")
    services.add_argument("--mediawiki-retries", type=int, default=2, help="retries on 5xx/connection errors")
    services.add_argument("--predictor-timeout", type=int, default=10, help="seconds per Triton call (default 10)")
    services.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    only = [m.strip() for m in args.models.split(",")] if args.models else None
    built = build_services(args.repository, args.mediawiki_url, only, args.mediawiki_timeout, args.mediawiki_retries)
    if not built:
        raise FeatureMismatch(f"{args.repository}: no model there has a transformer service")
    run(built, args.port, args.predictor_host, args.predictor_protocol, args.predictor_timeout, args.host)
    return 0
