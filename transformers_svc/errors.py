"""Errors a service answers with, each carrying its HTTP status, in one place.

KServe maps its own errors (InvalidInput -> 400, ...) in `kserve.errors`; ours add the
statuses a transformer in front of MediaWiki and Triton needs. A handler registered on
the ModelServer's FastAPI app turns any of them into JSON, never a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ServiceError(Exception):
    status = 500
    kind = "ServiceError"

    def __init__(self, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body  # an ORES-shaped body, when the error belongs to a revision

    def as_json(self) -> dict[str, Any]:
        return self.body or {"error": {"type": self.kind, "message": self.message}}


class BadRequest(ServiceError):
    status, kind = 400, "BadRequest"


class RevisionNotFound(ServiceError):
    status, kind = 404, "RevisionNotFound"


class TextDeleted(ServiceError):
    status, kind = 410, "TextDeleted"


class PermissionDenied(ServiceError):
    status, kind = 403, "PermissionDenied"


class MediaWikiUnavailable(ServiceError):
    status, kind = 502, "MediaWikiUnavailable"


class MediaWikiTimeout(ServiceError):
    status, kind = 504, "MediaWikiTimeout"


class PredictorUnavailable(ServiceError):
    status, kind = 503, "PredictorUnavailable"


class FeatureMismatch(RuntimeError):
    """The service would compute other features than the model was trained on."""


async def service_error_handler(_request: Any, exc: ServiceError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content=exc.as_json())
