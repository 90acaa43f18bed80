"""ASGI middleware in front of KServe's app: what no request may get past.

- A body over `max_body_bytes` is refused with 400 before it is read in full (declared
  by Content-Length or counted as it streams).
- Any exception our code lets through is answered as JSON 500 here, inside the app: the
  framework's last-resort handler would answer too, but then re-raise, and the server
  would drop the keep-alive connection (the client's next request fails).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from exporters.contract.events import fields

log = logging.getLogger("lwt.services")
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _TooLarge(Exception):
    pass


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class HttpGuard:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        too_large = {"error": {"type": "BadRequest", "message": f"the request body is over {limit} bytes"}}
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 400, too_large)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 400, too_large)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: JSON, connection kept
            if started:
                raise
            log.error("unexpected error", exc_info=exc, extra=fields(path=scope.get("path", "")))
            await _send_json(send, 500, {"error": {"type": "InternalError",
                                                   "message": f"unexpected {type(exc).__name__}; see the services log"}})
