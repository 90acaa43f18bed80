"""A real Triton serving a repository of models built in the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporters.tree.export import TreeExportOptions, export_tree
from tests.integration import models
from lwt.stack.process import free_port
from lwt.stack.triton import Ports, TritonServer


@pytest.fixture(scope="session")
def tree_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, models.Built]:
    """Every supported family, trained in the test and saved as a user would save it."""
    return models.build_all(tmp_path_factory.mktemp("model-files"))


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory, tree_models: dict[str, models.Built]) -> Path:
    repo = tmp_path_factory.mktemp("repo") / "models"
    for name, built in tree_models.items():
        export_tree(built.path, TreeExportOptions(name=name, repository=repo, progress=False))
    return repo


@pytest.fixture(scope="session")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> TritonServer:
    server = TritonServer(repository, Ports(free_port(), free_port(), free_port()),
                          workdir=tmp_path_factory.mktemp("triton"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rows() -> np.ndarray:
    return models.rows(200, seed=7)
