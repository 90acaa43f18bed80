"""Structured log fields that can never collide with a `logging.LogRecord` attribute.

`log.info("scored", extra=fields(model=..., name=...))` puts every field under the one
`fields` attribute; lwt's JSON formatter (`lwt.logs`) writes them as top-level keys of the
line. A plain `extra={"name": ...}` would raise KeyError inside logging ("Attempt to
overwrite 'name' in LogRecord") at whatever level the line is emitted.
"""

from __future__ import annotations

from typing import Any


def fields(**values: Any) -> dict[str, dict[str, Any]]:
    return {"fields": values}
