"""Related articles: a FAISS index of a wiki's pages, kept in the model's version folder.

```
<version>/index/manifest.json   what it was built from: model, version, model file sha512,
                                wiki, page count, date, index kind and parameters
<version>/index/vectors.faiss   the FAISS index (inner product of L2-normalised embeddings)
<version>/index/pages.json      [[page_id, title], ...] in index order
```

`build.py` fills it; this module writes the three files into a staging folder renamed into
place (a service never reads half an index), then rewrites the version's SHA512SUMS: the
index is pushed, pulled and verified with the model. `load_index` refuses an index built
with another model version or file: its vectors would not be comparable with the model's.
It needs neither KServe nor Triton's client, so any process may read an index.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from exporters.contract.card import ModelCard, read_card
from exporters.contract.errors import CardError, LwtError
from exporters.contract.layout import latest_version, sha512_file, write_sha512sums
from transformers_svc.embedding_svc.pages import Page

INDEX = "index"
MANIFEST, VECTORS, PAGES = "manifest.json", "vectors.faiss", "pages.json"
Kind = Literal["flat", "ivf", "hnsw"]
KINDS: tuple[str, ...] = ("flat", "ivf", "hnsw")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 64
IVF_MAX_NPROBE = 16


class IndexBuildError(LwtError):
    """The index could not be built (no pages, a model that does not embed, ...)."""

    status, exit_code, kind = 500, 1, "IndexBuildError"


class IndexMismatch(CardError):
    """An index whose vectors come from another model version or file than the one served."""

    kind = "IndexMismatch"


class Manifest(BaseModel):
    """What an index was built from; validated on read like the model card."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = 1
    model: str
    model_version: str
    model_file: str
    model_sha512: str
    wiki: str
    pages: int
    text: str = "title + lead paragraph (wikitext stripped with mwparserfromhell)"
    created: str
    kind: Kind
    metric: Literal["inner_product"] = "inner_product"
    dimension: int
    params: dict[str, int]
    build_seconds: float
    faiss: str


def model_file_sha512(version_dir: Path, card: ModelCard) -> tuple[str, str]:
    assert card.transformer is not None
    return card.transformer.model_file, sha512_file(version_dir / card.transformer.model_file)


# --- writing ------------------------------------------------------------------------------
def make_index(vectors: np.ndarray, kind: str) -> tuple[faiss.Index, dict[str, int]]:
    """Exact inner product (`flat`), or an approximate one for large wikis: `ivf` (inverted
    lists, about 4 sqrt(n) of them, 16 probed) or `hnsw` (a graph, M=32)."""
    count, dimension = vectors.shape
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(dimension)
        params: dict[str, int] = {}
    elif kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(count)), count // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small wikis train fine; no warning on stderr
        index.train(vectors)
        index.nprobe = min(nlist, IVF_MAX_NPROBE)
        params = {"nlist": nlist, "nprobe": int(index.nprobe)}
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    else:
        raise IndexBuildError(f"unknown index kind {kind!r} (one of {', '.join(KINDS)})")
    index.add(vectors)
    return index, params


def write_index(version_dir: Path, pages: list[Page], vectors: np.ndarray, manifest: Manifest,
                index: faiss.Index) -> Path:
    """The three files into a staging folder, renamed over `<version>/index`, then the
    version's SHA512SUMS rewritten to list them."""
    target = version_dir / INDEX
    staging = Path(tempfile.mkdtemp(prefix=".index-staging-", dir=version_dir))
    try:
        faiss.write_index(index, str(staging / VECTORS))
        (staging / PAGES).write_text(json.dumps([[p.page_id, p.title] for p in pages], ensure_ascii=False))
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))  # last: its presence means complete
        for path in staging.iterdir():
            os.chmod(path, 0o644)
        os.chmod(staging, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".index-old-", dir=version_dir))
            os.rename(target, old / INDEX)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_sha512sums(version_dir)
    return target


def embedding_version(repository: Path, model: str) -> tuple[Path, ModelCard]:
    version_dir = latest_version(Path(repository) / model)
    if version_dir is None:
        raise IndexBuildError(f"no model {model!r} in {repository} (export it first: "
                              "lwt export shipped --transformers)")
    card = read_card(version_dir)
    if card.task != "sentence-embedding":
        raise IndexBuildError(f"{model} is a {card.task} model; a related-articles index needs a "
                              "sentence-embedding model")
    return version_dir, card


# --- reading ------------------------------------------------------------------------------
@dataclass
class Related:
    title: str
    score: float


class RelatedIndex:
    """A loaded index: titles -> positions, and nearest neighbours by inner product."""

    def __init__(self, manifest: Manifest, index: faiss.Index, pages: list[tuple[int, str]]) -> None:
        self.manifest = manifest
        self.index = index
        self.titles = [title for _, title in pages]
        self.positions = {title: i for i, title in enumerate(self.titles)}

    def __len__(self) -> int:
        return len(self.titles)

    def position(self, title: str) -> int | None:
        return self.positions.get(normalise_title(title))

    def related(self, position: int, count: int) -> list[Related]:
        """The `count` nearest pages, best first, the seed page itself left out."""
        seed = self.index.reconstruct(position).reshape(1, -1)
        scores, labels = self.index.search(seed, min(count + 1, len(self.titles)))
        found = [Related(self.titles[int(i)], round(float(s), 6)) for s, i in zip(scores[0], labels[0])
                 if int(i) >= 0 and int(i) != position]
        return found[:count]


def normalise_title(title: str) -> str:
    """MediaWiki's spelling of a main-namespace title: spaces for underscores, single
    spaces, the first letter upper case (`$wgCapitalLinks`)."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


def load_index(version_dir: Path, card: ModelCard, model: str, model_sha512: str) -> RelatedIndex | None:
    """The index stored beside this model version, or None when there is none. An index
    built from another model (name, version or file) is an `IndexMismatch`; an unreadable
    one a `CardError`: either way the service must not answer with it."""
    folder = version_dir / INDEX
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = Manifest.model_validate_json((folder / MANIFEST).read_text())
    except (OSError, ValidationError, ValueError) as exc:
        raise CardError(f"{folder / MANIFEST}: not a related-articles index manifest "
                        f"({str(exc).splitlines()[0]}); rebuild it with `lwt index build`") from None
    how = (f"rebuild it with `lwt index build --wiki {manifest.wiki} --repository "
           f"{version_dir.parent.parent} --model {model}`")
    if manifest.model != model or manifest.model_version != card.model_version:
        raise IndexMismatch(f"{folder} was built with {manifest.model} version {manifest.model_version}, not "
                            f"{model} version {card.model_version} that is served here; {how}")
    if manifest.model_sha512 != model_sha512:
        raise IndexMismatch(f"{folder} was built with another {manifest.model_file} of {model} version "
                            f"{card.model_version} (sha512 {manifest.model_sha512[:16]}..., the model's is "
                            f"{model_sha512[:16]}...); {how}")
    try:
        index = faiss.read_index(str(folder / VECTORS))
        raw = json.loads((folder / PAGES).read_text())
    except (OSError, RuntimeError, ValueError) as exc:
        raise CardError(f"{folder}: cannot read the index ({type(exc).__name__}); {how}") from None
    pages = _checked_pages(raw, folder)
    if index.ntotal != len(pages) or index.ntotal != manifest.pages or index.d != manifest.dimension:
        raise CardError(f"{folder}: {index.ntotal} vectors of {index.d} dims for {len(pages)} pages "
                        f"(manifest: {manifest.pages} of {manifest.dimension}); {how}")
    if manifest.kind == "ivf":
        faiss.extract_index_ivf(index).make_direct_map()  # `reconstruct` of a seed page needs it
    return RelatedIndex(manifest, index, pages)


def _checked_pages(raw: Any, folder: Path) -> list[tuple[int, str]]:
    if not isinstance(raw, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and isinstance(p[1], str) for p in raw):
        raise CardError(f"{folder / PAGES}: expected a list of [page_id, title]")
    pages = [(int(p[0]), str(p[1])) for p in raw]
    if len({title for _, title in pages}) != len(pages):
        raise CardError(f"{folder / PAGES}: a title appears twice")
    return pages
