"""Session fixtures: real servers on loopback, started once and torn down at the end.

`tests/unit` need no server; `tests/integration` start the real Triton (and later Swift,
MediaWiki, helm) through these fixtures. Run one side with `-m integration` or
`-m "not integration"`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lwt() -> list[str]:
    """The `lwt` console script of this venv, for tests that run the CLI as users do."""
    return [str(Path(sys.executable).parent / "lwt")]
