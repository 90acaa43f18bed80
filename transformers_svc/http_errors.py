"""Every error as a JSON answer, never a traceback: the handlers on KServe's FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotReady

from exporters.contract.errors import LwtError
from transformers_svc.errors import ServiceError


def _json(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"type": kind, "message": message}})


async def service_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LwtError)
    body = exc.as_json() if isinstance(exc, ServiceError) else {"error": {"type": exc.kind, "message": exc.message}}
    return JSONResponse(status_code=exc.status, content=body)


async def invalid_input_handler(_request: Request, exc: Exception) -> JSONResponse:
    return _json(400, "BadRequest", str(exc))


async def not_found_handler(_request: Request, exc: Exception) -> JSONResponse:
    return _json(404, "NotFound", str(exc))


async def not_ready_handler(_request: Request, exc: Exception) -> JSONResponse:
    return _json(503, "NotReady", str(exc))


def install(app: Any) -> None:
    """Register every handler on KServe's FastAPI app (its public `add_exception_handler`).
    Anything else our code lets through is answered by `http_guard.HttpGuard`."""
    app.add_exception_handler(LwtError, service_error_handler)
    app.add_exception_handler(InvalidInput, invalid_input_handler)
    app.add_exception_handler(RequestValidationError, invalid_input_handler)
    app.add_exception_handler(ModelNotFound, not_found_handler)
    app.add_exception_handler(ModelNotReady, not_ready_handler)
    # KServe's own handler would log a traceback for every readiness probe while starting.
    app.add_exception_handler(ServerNotReady, not_ready_handler)
