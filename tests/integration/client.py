"""The HTTP calls the integration tests make, as a client would: every answer, errors
included, comes back as (status, JSON body); a body that is not JSON comes back as
{"raw": text}, so a test can assert that no 5xx or traceback slipped through."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any


def _body(data: bytes) -> Any:
    try:
        return json.loads(data or b"{}")
    except ValueError:
        return {"raw": data.decode(errors="replace")}


def _open(request: urllib.request.Request | str, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, _body(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, _body(error.read())


def get(url: str, timeout: float = 60) -> tuple[int, Any]:
    return _open(url, timeout)


def post(url: str, body: object = None, raw: bytes | None = None, timeout: float = 60) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    return _open(request, timeout)


def predict(services_url: str, model: str, body: object = None, raw: bytes | None = None,
            timeout: float = 60) -> tuple[int, Any]:
    """Lift Wing's v1 route of one model."""
    return post(f"{services_url}/v1/models/{model}:predict", body, raw, timeout)


def declare_only(port: int, path: str, length: int, timeout: float = 30) -> tuple[int, Any]:
    """A POST that declares `length` bytes and sends none: a body over a server's limit must
    be refused from its headers (a client still sending when the answer comes would see a
    reset instead of the 400)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, _body(answer.read())
    finally:
        connection.close()
