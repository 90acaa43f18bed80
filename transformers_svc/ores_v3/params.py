"""ORES v3 request parameters and errors, as ORES read and wrote them.

A parameter comes from the query string, else from the POSTed body (a form, as ORES read
`request.form`, or a JSON object); lists are `|`-separated (`revids=1|2|3`), a JSON
body may also give a list; `features` and `precache` are flags (present = on, unless
`false`/`0`). Errors have ORES' own shape, `{"error": {"code": "bad request", "message":
...}}`, never KServe's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from transformers_svc.errors import ServiceError
from transformers_svc.settings import MEDIAWIKI_MAX_REV_ID

T = TypeVar("T")
_CODES = {400: "bad request", 403: "forbidden", 404: "not found", 413: "bad request", 429: "too_many_requests",
          500: "internal server error", 502: "bad gateway", 503: "server overloaded", 504: "request_timeout"}
_OFF = {"false", "0", "no", "off"}


class OresError(Exception):
    """An answer of ORES' error shape with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status,
                            content={"error": {"code": _CODES.get(self.status, "error"), "message": self.message}})

    @classmethod
    def of(cls, error: ServiceError) -> "OresError":
        return cls(error.status, f"{error.kind}: {error.message}")


def bad_request(message: str) -> OresError:
    return OresError(400, message)


def not_found(message: str) -> OresError:
    return OresError(404, message)


@dataclass(frozen=True)
class Params:
    query: Mapping[str, str]
    body: Mapping[str, Any]

    def raw(self, name: str) -> Any:
        return self.query[name] if name in self.query else self.body.get(name)

    def flag(self, name: str) -> bool:
        if name in self.query:
            return str(self.query[name]).strip().lower() not in _OFF
        value = self.body.get(name)
        if value is None:
            return False
        return value if isinstance(value, bool) else str(value).strip().lower() not in _OFF

    def bar_list(self, name: str, kind: Callable[[str], T]) -> list[T]:
        value = self.raw(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else str(value).split("|")
        try:
            return [kind(str(item).strip()) for item in items]
        except (TypeError, ValueError) as exc:
            raise bad_request(f"Could not interpret {name}. {exc}") from None


async def read_params(request: Request) -> Params:
    body: Mapping[str, Any] = {}
    if request.method == "POST":
        raw = await request.body()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if raw.strip() and kind == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("The POSTed body is not JSON") from None
            if not isinstance(body, dict):
                raise bad_request("The POSTed JSON must be an object of parameters")
        elif raw.strip():
            try:
                body = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True))
            except (UnicodeDecodeError, ValueError):
                raise bad_request("The POSTed body is neither JSON nor a form") from None
    return Params(dict(request.query_params), body)


def rev_id(text: Any) -> int:
    """A MediaWiki revision id (a positive 32-bit integer), or ValueError saying why."""
    value = int(str(text).strip())
    if not 1 <= value <= MEDIAWIKI_MAX_REV_ID:
        raise ValueError(f"{value} is not a revision id (1 to {MEDIAWIKI_MAX_REV_ID})")
    return value


def model_name(text: str) -> str:
    if not text:
        raise ValueError("an empty model name")
    return text
