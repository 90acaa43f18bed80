"""One KServe server hosting every transformer service of a repository, on 127.0.0.1.

Everything is KServe's (the `/v1/models/<name>:predict` and `/v2/models/<name>/infer`
routes, health, `/metrics`), through its public classes, with four changes:
- bound to the given host (KServe's RESTServer binds 0.0.0.0) and, for `--workers`, to a
  socket the caller opened with SO_REUSEPORT;
- our error handlers and the HTTP guard (body limit, JSON for any failure, the
  connection kept) on KServe's app, after KServe's own (`create_application` is public);
- no repository extension: `/v2/repository/models/<name>/load|unload` answer 403;
- readiness is the models': `/v2/health/ready` is false while any Triton entry a service
  needs is not ready (Triton down, or a model unloaded there).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from pathlib import Path
from typing import Callable

import kserve
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_repository import ModelRepository
from kserve.model_server import app as kserve_app
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from fastapi import APIRouter
from kserve.protocol.rest.server import RESTServer

from exporters.contract.card import ModelCard, read_card
from exporters.contract.errors import CardError, LwtError
from exporters.contract.events import fields
from exporters.contract.layout import latest_version, model_dirs, read_labels
from transformers_svc import http_errors
from transformers_svc.cache import ScoreCache
from transformers_svc.descriptions_svc.service import build_descriptions_service
from transformers_svc.embedding_svc.service import build_embedding_service
from transformers_svc.fasttext_svc.langid import build_langid_service
from transformers_svc.fasttext_svc.outlink_topic import build_outlink_topic_service
from transformers_svc.http_guard import HttpGuard
from transformers_svc.mediawiki.client import MediaWikiClient, api_url_for
from transformers_svc.ores_v3.routes import ores_v3_routes
from transformers_svc.predictor import Predictor
from transformers_svc.revertrisk_svc.service import build_revertrisk_service
from transformers_svc.revscoring_svc.service import RevscoringService
from transformers_svc.revscoring_svc.solve import WikiSolver
from transformers_svc.settings import ServiceSettings
from transformers_svc.text_svc.service import TextClassificationService

log = logging.getLogger("lwt.services")


class Forbidden(LwtError):
    status, exit_code, kind = 403, 1, "Forbidden"


class LockedRepository(ModelRepositoryExtension):
    """The services load no models on request: the repository is Triton's, and its own
    repository API needs the operator's key."""

    async def load(self, model_name: str) -> None:
        raise Forbidden(f"the services do not load models ({model_name}); Triton's repository API does")

    async def unload(self, model_name: str) -> None:
        raise Forbidden(f"the services do not unload models ({model_name}); Triton's repository API does")


class ModelsDataPlane(DataPlane):
    """KServe's data plane whose readiness is the Triton entries every service needs."""

    def __init__(self, registry: ModelRepository, predictor: Predictor) -> None:
        super().__init__(model_registry=registry)
        self.predictor = predictor

    async def model_ready(self, model_name: str, disable_predictor_health_check: bool = False) -> bool:
        model = self.model_registry.get_model(model_name)
        if model is None:
            raise kserve.errors.ModelNotFound(model_name)
        if disable_predictor_health_check:  # the infer path: the call itself will tell
            return bool(model.ready)
        checks = await asyncio.gather(*(self.predictor.model_ready(n) for n in getattr(model, "triton_models", [])))
        return bool(model.ready) and all(checks)

    async def ready(self) -> bool:
        names = list(self.model_registry.get_models())
        return all(await asyncio.gather(*(self.model_ready(n) for n in names)))


class GuardedRESTServer(RESTServer):
    """KServe's REST server with our handlers and guard, bound where we say, and the
    routes services add beside KServe's (ORES v3, related articles, ...)."""

    def __init__(self, dataplane: DataPlane, port: int, host: str, settings: ServiceSettings,
                 routes: list[Callable[[APIRouter], None]]) -> None:
        super().__init__(FASTAPI_APP_IMPORT_STRING, dataplane, LockedRepository(dataplane.model_registry), port,
                         grace_period=5, timeout_keep_alive=65)
        self.config.host = host
        self.settings = settings
        self.routes = routes

    def create_application(self) -> None:
        router = APIRouter()
        for add in self.routes:
            add(router)
        kserve_app.include_router(router)  # before KServe's own: ours are more specific
        super().create_application()
        http_errors.install(kserve_app)  # after KServe's own: ours win for the same classes
        kserve_app.add_middleware(HttpGuard, max_body_bytes=self.settings.max_body_bytes)


class Context:
    """What services of one process share: settings, Triton, one MediaWiki client and one
    feature solver per wiki, the score cache."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.predictor = Predictor(settings)
        self.cache = ScoreCache(settings)
        self._clients: dict[str, MediaWikiClient] = {}
        self._solvers: dict[str, WikiSolver] = {}

    def client(self, wiki: str) -> MediaWikiClient:
        url = api_url_for(wiki, self.settings.mediawiki_url)
        if url not in self._clients:
            self._clients[url] = MediaWikiClient(url, self.settings)
        return self._clients[url]

    def solver(self, wiki: str) -> WikiSolver:
        if wiki not in self._solvers:
            self._solvers[wiki] = WikiSolver(wiki, self.client(wiki), self.settings.mediawiki_timeout,
                                             self.settings.text_cache_size)
        return self._solvers[wiki]


Factory = Callable[[str, ModelCard, Path, list[str], Context], kserve.Model]


def _revscoring(name: str, card: ModelCard, version: Path, labels: list[str], ctx: Context) -> kserve.Model:
    if not card.wiki_db:
        raise CardError(f"{version}: a revscoring model needs wiki_db in its card (export with --wiki-db)")
    return RevscoringService(name, card, version, labels, ctx.solver(card.wiki_db), ctx.cache, ctx.settings,
                             ctx.predictor)


def _text(name: str, card: ModelCard, version: Path, labels: list[str], ctx: Context) -> kserve.Model:
    return TextClassificationService(name, card, version, labels, ctx.client, ctx.settings, ctx.predictor)


# The card's `service` names which transformer answers for a model.
FACTORIES: dict[str, Factory] = {"revscoring": _revscoring, "text-classification": _text,
                               "embedding": build_embedding_service, "langid": build_langid_service,
                               "outlink-topic-model": build_outlink_topic_service,
                               "revertrisk-language-agnostic": build_revertrisk_service,
                               "article-descriptions": build_descriptions_service}
# Routes over several services (e.g. ORES v3): (services, context) -> a function adding them.
ROUTES: list[Callable[[list[kserve.Model], Context], Callable[[APIRouter], None]]] = [ores_v3_routes]


def build_services(repository: Path, ctx: Context, only: list[str] | None = None) -> list[kserve.Model]:
    """A service for each model whose card names one; refuse to start on any mismatch."""
    services: list[kserve.Model] = []
    for model_dir in model_dirs(repository):
        version = latest_version(model_dir)
        if version is None or (only and model_dir.name not in only):
            continue
        card = read_card(version)
        if card.service is None:
            continue
        factory = FACTORIES.get(card.service)
        if factory is None:
            raise CardError(f"{version}: no service named {card.service!r} in this version of liftwing-triton")
        services.append(factory(model_dir.name, card, version, read_labels(model_dir), ctx))
    missing = sorted(set(only or []) - {s.name for s in services})
    if missing:
        raise CardError(f"no service can be built for {', '.join(missing)} (no such model, or its card names none)")
    if not services:
        raise CardError(f"{repository}: no model there has a transformer service")
    return services


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket several worker processes can share (the kernel spreads connections)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def run(services: list[kserve.Model], ctx: Context, port: int, host: str = "127.0.0.1",
        sock: socket.socket | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's own handling, then re-raised to the caller).
    A service with `add_routes(router)` adds routes of its own beside KServe's."""
    registry = ModelRepository()
    for service in services:
        registry.update(service)
    routes = [s.add_routes for s in services if hasattr(s, "add_routes")] + [add(services, ctx) for add in ROUTES]
    rest = GuardedRESTServer(ModelsDataPlane(registry, ctx.predictor), port, host, ctx.settings, routes)
    log.info("services ready", extra=fields(port=port, models=[s.name for s in services],
                                            predictor=ctx.settings.predictor_host,
                                            protocol=ctx.settings.predictor_protocol, cache=ctx.cache.kind))
    # Models, tokenizers, feature graphs and vocabularies are loaded for good: freezing them
    # keeps the cyclic garbage collector from walking them again and again while serving
    # (a langid p99 of 628 ms fell to 59 ms with it).
    gc.collect()
    gc.freeze()
    rest.run(sockets=[sock] if sock is not None else None)
