"""The ORES v3 routes on the services port, beside KServe's v1/v2 routes.

  GET       /v3/scores/                                   every context with its models
  GET       /v3/scores/{context}/                         that wiki's models (model_info honoured)
  GET|POST  /v3/scores/{context}/?models=a|b&revids=1|2   many models x many revisions
  GET       /v3/scores/{context}/{revid}/                 every model of the wiki, one revision
  GET|POST  /v3/scores/{context}/{revid}/{model}          one model, one revision
  POST      /v3/precache                                  one change event: score it into the cache

Answers have ORES v3's shape: `{context: {"models": {name: info}, "scores": {rev_id: {name:
{"score": ...} | {"error": {"type", "message"}}}}}}`; a revision that cannot be scored is
an error object in its place (200). Unknown context or model: 404, more than
`max_revisions` revids or a malformed list: 400, in ORES' error shape. Every path is
served with and without its trailing slash (ORES redirected the one without).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import orjson  # KServe's own JSON library (a dependency of kserve)
from fastapi import APIRouter, Request, Response

from transformers_svc.errors import BadRequest
from transformers_svc.events import parse_change
from transformers_svc.ores_v3.model_info import ModelInfoLookupError, model_info
from transformers_svc.ores_v3.params import OresError, Params, bad_request, model_name, not_found, read_params, rev_id
from transformers_svc.ores_v3.scorer import ContextScorer
from transformers_svc.revscoring_svc.service import RevscoringService


def _json(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")


class OresV3:
    def __init__(self, contexts: Mapping[str, ContextScorer], max_revisions: int) -> None:
        self.contexts = dict(sorted(contexts.items()))
        self.max_revisions = max_revisions

    def add_routes(self, router: APIRouter) -> None:
        for path, view, methods in (
            ("/v3/scores", self.all_contexts, ["GET"]),
            ("/v3/scores/{context}", self.context, ["GET", "POST"]),
            ("/v3/scores/{context}/{revid}", self.revision, ["GET", "POST"]),
            ("/v3/scores/{context}/{revid}/{model}", self.revision_model, ["GET", "POST"]),
            ("/v3/precache", self.precache, ["POST"]),
        ):
            for slash in ("", "/"):
                router.add_api_route(path + slash, view, methods=methods, include_in_schema=not slash)

    # --- views --------------------------------------------------------------------------
    async def all_contexts(self, request: Request) -> Response:
        try:
            fields = (await read_params(request)).bar_list("model_info", str)
            return _json({name: {"models": self._infos(scorer, list(scorer.models), fields)}
                                   for name, scorer in self.contexts.items()})
        except OresError as exc:
            return exc.response()

    async def context(self, context: str, request: Request) -> Response:
        return await self._answer(request, context)

    async def revision(self, context: str, revid: str, request: Request) -> Response:
        return await self._answer(request, context, revid)

    async def revision_model(self, context: str, revid: str, model: str, request: Request) -> Response:
        return await self._answer(request, context, revid, model)

    async def precache(self, request: Request) -> Response:
        """ORES' precache: score every model of the event's wiki into the cache; 204 when
        the event's wiki has no models here or its kind makes no new revision."""
        try:
            try:
                event = json.loads(await request.body())
            except ValueError:
                raise bad_request("Must provide a POST'ed json as an event") from None
            try:
                change = parse_change(event)
            except BadRequest as exc:
                raise bad_request(exc.message) from None
            scorer = self.contexts.get(change.wiki)
            if scorer is None or not change.scorable:
                return Response(status_code=204)
            names = list(scorer.models)
            return _json({change.wiki: await self._document(scorer, [change.rev_id], names, False, [])})
        except OresError as exc:
            return exc.response()

    # --- the one path every score request takes ---------------------------------------------
    async def _answer(self, request: Request, context: str, revid: str | None = None,
                      model: str | None = None) -> Response:
        try:
            params = await read_params(request)
            scorer = self.contexts.get(context)
            if scorer is None:
                raise not_found(f"No scorers available for {context}")
            rev_ids = self._rev_ids(params, revid)
            names = [model] if model is not None else params.bar_list("models", model_name) or list(scorer.models)
            names = list(dict.fromkeys(names))
            unknown = [n for n in names if n not in scorer.models]
            if unknown:
                raise not_found(f"Models {tuple(unknown)} not available for {context}")
            params.flag("precache")  # accepted, as ORES did; scoring fills the cache either way
            document = await self._document(scorer, rev_ids, names, params.flag("features"),
                                            params.bar_list("model_info", str))
            return _json({context: document})
        except OresError as exc:
            return exc.response()

    def _rev_ids(self, params: Params, revid: str | None) -> list[int]:
        if revid is not None:
            try:
                return [rev_id(revid)]
            except ValueError as exc:
                raise bad_request(f"Could not interpret revid. {exc}") from None
        rev_ids = list(dict.fromkeys(params.bar_list("revids", rev_id)))
        if len(rev_ids) > self.max_revisions:
            raise bad_request(f"Too many values for 'revids' parameter.  Max of {self.max_revisions}.")
        return rev_ids

    async def _document(self, scorer: ContextScorer, rev_ids: Sequence[int], names: Sequence[str],
                        features: bool, fields: Sequence[str]) -> dict[str, Any]:
        document: dict[str, Any] = {"models": self._infos(scorer, names, fields)}
        if rev_ids:
            scored = await scorer.score(rev_ids, names, features)
            failure = scored.all_failed()
            if failure is not None:
                raise OresError.of(failure)
            document["scores"] = {str(r): by_model for r, by_model in scored.entries.items()}
        return document

    @staticmethod
    def _infos(scorer: ContextScorer, names: Sequence[str], fields: Sequence[str]) -> dict[str, Any]:
        try:
            return {n: model_info(scorer.models[n].card, fields) for n in names}
        except ModelInfoLookupError as exc:
            raise bad_request(f"Model information could not be retrieved for {exc.args[0]}") from None


def ores_v3_routes(services: list[Any], ctx: Any) -> Callable[[APIRouter], None]:
    """The v3 routes over every revscoring service, grouped by wiki (an entry of `ROUTES`)."""
    by_wiki: dict[str, dict[str, RevscoringService]] = {}
    for service in services:
        if isinstance(service, RevscoringService):
            by_wiki.setdefault(service.wiki_db, {})[service.model_key] = service
    contexts = {wiki: ContextScorer(wiki, models) for wiki, models in by_wiki.items()}
    return OresV3(contexts, ctx.settings.max_revisions).add_routes
