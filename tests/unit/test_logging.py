"""Structured logs never collide with LogRecord attributes, at any level.

A first-round benchmark logged `extra={"name": ...}`: logging raised KeyError at INFO
("Attempt to overwrite 'name' in LogRecord") while every test, run at WARNING, passed.
Every structured field now goes through `exporters.contract.events.fields`; this test
finds every logging call in the project's code and emits it, at DEBUG, through the JSON
formatter `lwt` installs.
"""

from __future__ import annotations

import ast
import io
import json
import logging
from pathlib import Path

from exporters.contract.events import fields
from lwt.logs import FieldsFormatter

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lwt", "exporters", "transformers_svc", "benchmarks")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _logging_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in LOG_METHODS and any(k.arg == "extra" for k in node.keywords)):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def test_every_structured_event_uses_fields():
    calls = _logging_calls()
    assert len(calls) > 10
    for where, call in calls:
        extra = next(k.value for k in call.keywords if k.arg == "extra")
        assert isinstance(extra, ast.Call) and getattr(extra.func, "id", "") == "fields", \
            f"{where}: structured log fields must be passed as extra=fields(...)"


def test_every_structured_event_emits_at_debug():
    """Each call's field names, emitted with dummy values through the real formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("lwt.test.events")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    emitted = 0
    for where, call in _logging_calls():
        extra = next(k.value for k in call.keywords if k.arg == "extra")
        names = [k.arg for k in extra.keywords if k.arg]  # `**spread` keys come from data: covered below
        logger.debug(where, extra=fields(**{n: 1 for n in names}))
        emitted += 1
    logger.debug("colliding names", extra=fields(name="x", message="y", args=1, levelname="z", module="m"))
    lines = [json.loads(l) for l in stream.getvalue().splitlines()]
    assert len(lines) == emitted + 1
    assert lines[-1]["args"] == 1 and lines[-1]["module"] == "m"  # fields never overwrite the record's own


def test_a_library_warning_is_a_json_line_too(capsys):
    """A fresh clone's first `lwt bench compare mini-embedding` printed torch's TracerWarning
    as plain text between the JSON lines (the README run's report check caught it)."""
    import warnings

    from lwt.logs import configure

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("INFO")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        root.handlers[:], level = saved
        root.setLevel(level)
    [line] = capsys.readouterr().err.strip().splitlines()
    record = json.loads(line)
    assert record["name"] == "py.warnings" and record["level"] == "WARNING" and "a library's warning" in record["message"]
