"""Session fixtures shared by the integration tests: the tree models of every family and a
real Triton serving them, the fixture MediaWiki (every shipped dump) and a copy of the
shipped repository. Each is started once and stopped at the end of the session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from exporters.tree.export import TreeExportOptions, export_tree
from tests.integration import models
from lwt.stack.process import free_port
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"


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


@pytest.fixture(scope="session")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> LocalWiki:
    """The fixture MediaWiki with every shipped dump; `revs` maps revision roles to ids."""
    with LocalWiki(tmp_path_factory.mktemp("wiki") / "w", free_port()) as running:
        yield running


@pytest.fixture(scope="session")
def revs(wiki: LocalWiki) -> dict[str, int]:
    return json.loads((wiki.folder / "revisions.json").read_text())


@pytest.fixture(scope="session")
def shipped_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of model_repository/ that tests may serve (never the checkout itself)."""
    repo = tmp_path_factory.mktemp("svc-repo") / "repository"
    shutil.copytree(SHIPPED, repo)
    return repo
