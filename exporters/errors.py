"""Errors an exporter reports to its user: one line, exit code 2, nothing written."""


class ExportError(Exception):
    """Bad input or a failed check; the CLI prints the message and exits 2."""

    exit_code = 2


class StoreError(RuntimeError):
    """The model store (Swift/S3) refused or could not be reached; exit 1."""

    exit_code = 1
