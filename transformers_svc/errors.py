"""Errors a service answers with, each carrying its HTTP status (the taxonomy's base is
`exporters.contract.errors.LwtError`), and the one handler that turns them into JSON.

KServe maps its own errors (InvalidInput -> 400, ...) in `kserve.errors`; ours add what a
transformer in front of MediaWiki and Triton needs. `transformers_svc.http_errors` turns
them into JSON answers.
"""

from __future__ import annotations

from typing import Any

from exporters.contract.errors import LwtError


class ServiceError(LwtError):
    status, kind = 500, "ServiceError"

    def __init__(self, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.body = body  # an ORES-shaped body, when the error belongs to revisions

    def as_json(self) -> dict[str, Any]:
        return self.body or {"error": {"type": self.kind, "message": self.message}}


class BadRequest(ServiceError):
    status, kind = 400, "BadRequest"


class NotFound(ServiceError):
    status, kind = 404, "NotFound"


class RevisionNotFound(ServiceError):
    status, kind = 404, "RevisionNotFound"


class PageNotFound(ServiceError):
    status, kind = 404, "PageNotFound"


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


# Errors that describe the revision itself: the same answer until the wiki changes.
REVISION_ERRORS = (RevisionNotFound, TextDeleted, PermissionDenied)


def from_entry(entry: dict[str, Any]) -> ServiceError:
    """An ORES `{"error": {"type", "message"}}` entry (e.g. from the cache) as its error."""
    kinds = {cls.kind: cls for cls in (RevisionNotFound, TextDeleted, PermissionDenied, PageNotFound, NotFound)}
    error = entry.get("error", {})
    return kinds.get(error.get("type"), ServiceError)(str(error.get("message", "")))
