"""The one error taxonomy of liftwing-triton.

Every error a user can cause is an `LwtError`: it carries the HTTP status a service
answers with and the exit code the CLI ends with, so neither the services' exception
handler nor the CLI keeps a table of its own. It lives at the bottom of the layers
(exporters' contract) so that every package can raise and catch the same classes.
"""

from __future__ import annotations

from typing import ClassVar


class LwtError(Exception):
    """Base: a clear one-line message; `status` for HTTP, `exit_code` for the CLI."""

    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    kind: ClassVar[str] = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LwtError):
    """A CLI mistake (a bad flag value, a missing option the parser cannot see)."""

    status, exit_code, kind = 400, 2, "UsageError"


class ExportError(LwtError):
    """Bad input to an exporter or a failed parity check; nothing was written."""

    status, exit_code, kind = 422, 2, "ExportError"


class CardError(LwtError):
    """A model card (`model.yaml`) is missing, malformed or of an unknown schema."""

    status, exit_code, kind = 500, 1, "CardError"


class StoreError(LwtError):
    """The model store (Swift/S3) refused, could not be reached, or held bad objects."""

    status, exit_code, kind = 502, 1, "StoreError"


class FeatureMismatch(CardError):
    """A service would compute other features than the model was trained on."""

    kind = "FeatureMismatch"
