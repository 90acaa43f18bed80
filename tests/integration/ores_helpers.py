"""Small HTTP servers the ORES v3 tests put around the real components, on 127.0.0.1:

- `CountingProxy` in front of the real MediaWiki: counts the API calls the services make;
- `SseSource`: a change-event stream as Wikimedia's EventStreams serves it (`id:`/`data:`),
  which drops the connection once mid-event and resumes after `Last-Event-ID`;
- `EventSink`: takes EventGate's `POST /v1/events` (a JSON array), validates each event
  against the real revision/score schema and answers as EventGate does (201, 207 with
  the failed events and their reasons, 503 once to make the sender retry).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import jsonschema
import yaml

from lwt.stack.process import free_port

SCORE_SCHEMA = Path(__file__).resolve().parents[2] / "transformers_svc" / "event_schemas" / \
    "mediawiki_revision_score_3.0.0.yaml"


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def _reply(self, status: int, body: bytes = b"", kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ProxyHandler(_Quiet):
    def do_GET(self) -> None:
        owner: CountingProxy = self.owner
        with owner.lock:
            owner.calls.append(self.path)
        try:
            with urllib.request.urlopen(owner.target + self.path[self.path.index("/api.php") + 8:]
                                        if "/api.php" in self.path else owner.target, timeout=30) as answer:
                body, status, kind = answer.read(), answer.status, answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            body, status, kind = error.read(), error.code, error.headers.get("Content-Type", "")
        self._reply(status, body, kind)


class CountingProxy(_Server):
    """`api_url` forwards to the real wiki's api.php; `count()` is the calls so far."""

    def __init__(self, target_api_url: str) -> None:
        super().__init__(_ProxyHandler)
        self.target = target_api_url
        self.calls: list[str] = []

    @property
    def api_url(self) -> str:
        return f"{self.url}/api.php"

    def count(self) -> int:
        with self.lock:
            return len(self.calls)


class _SseHandler(_Quiet):
    def do_GET(self) -> None:
        owner: SseSource = self.owner
        last = self.headers.get("Last-Event-ID")
        with owner.lock:
            owner.connections.append(last)
        ids = [i for i, _ in owner.events]
        start = ids.index(last) + 1 if last in ids else 0
        if start >= len(owner.events):
            self._reply(204)  # the SSE way of saying: the stream is over, do not reconnect
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(b": a comment, as EventStreams sends to keep the connection up\n\n")
        for number, (event_id, data) in enumerate(owner.events[start:], start):
            text = f"event: message\nid: {event_id}\ndata: {data}\n\n".encode()
            if number == owner.drop_at and not owner.dropped:
                owner.dropped = True
                self.wfile.write(f"{len(text):x}\r\n".encode() + text[: len(text) // 2])  # half a chunk, then gone
                self.wfile.flush()
                self.close_connection = True
                return
            self._chunk(text)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class SseSource(_Server):
    """Serves `events` ([(id, data)]); the connection drops once in the middle of event
    `drop_at` (its first half sent); a reconnect resumes after `Last-Event-ID`."""

    def __init__(self, events: list[tuple[str, str]], drop_at: int) -> None:
        super().__init__(_SseHandler)
        self.events = events
        self.drop_at = drop_at
        self.dropped = False
        self.connections: list[str | None] = []  # the Last-Event-ID of each connection


class _SinkHandler(_Quiet):
    def do_POST(self) -> None:
        owner: EventSink = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with owner.lock:
            owner.posts += 1
            if owner.posts <= owner.fail_first:
                self._reply(503, b'{"error": "try again"}')
                return
        events = json.loads(body)
        events = events if isinstance(events, list) else [events]
        invalid = []
        for event in events:
            errors = sorted(owner.validator.iter_errors(event), key=lambda e: list(e.path))
            if errors:
                invalid.append({"status": "invalid", "event": event,
                                "context": {"errorsText": "; ".join(e.message for e in errors)}})
            elif owner.refuse(event):
                invalid.append({"status": "invalid", "event": event,
                                "context": {"errorsText": f"rev_id {event.get('rev_id')} refused by this sink"}})
            else:
                with owner.lock:
                    owner.accepted.append(event)
        if not invalid:
            self._reply(201)
        else:
            status = 400 if len(invalid) == len(events) else 207
            self._reply(status, json.dumps({"invalid": invalid, "error": []}).encode())


class EventSink(_Server):
    """EventGate's intake at `url + /v1/events`: `accepted` holds every event taken."""

    def __init__(self, refuse: Callable[[dict], bool] = lambda e: False, fail_first: int = 0) -> None:
        super().__init__(_SinkHandler)
        self.validator = jsonschema.Draft7Validator(yaml.safe_load(SCORE_SCHEMA.read_text()),
                                                    format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        self.refuse = refuse
        self.fail_first = fail_first
        self.posts = 0
        self.accepted: list[dict] = []

    @property
    def events_url(self) -> str:
        return f"{self.url}/v1/events"
