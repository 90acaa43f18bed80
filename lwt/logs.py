"""Structured (JSON) logs for every `lwt` command and service: one line per event."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# What a log line keeps of the record besides its message and structured fields.
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class FieldsFormatter(JsonFormatter):
    """Writes `extra=fields(...)` (exporters.contract.events) as top-level JSON keys."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        structured = log_data.pop("fields", None)
        if isinstance(structured, dict):
            for key, value in structured.items():
                log_data.setdefault(key, value)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FieldsFormatter(_FORMAT, rename_fields={"levelname": "level", "asctime": "time"}))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warnings.warn becomes a JSON line too (logger "py.warnings")
    if level.upper() != "DEBUG":  # a line per request from each of these: ours already says it
        for chatty in ("kserve.trace", "httpx", "uvicorn.access", "faiss.loader"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
