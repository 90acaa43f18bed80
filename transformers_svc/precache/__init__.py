"""Precaching from change events: a stream in (`stream`), the services' `POST /v3/precache`
per event (`consumer`), revision-score events out to EventGate (`eventgate`)."""

from transformers_svc.precache.consumer import PrecacheError, PrecacheStats, precache
from transformers_svc.precache.stream import SourceError

__all__ = ["PrecacheError", "PrecacheStats", "SourceError", "precache"]
