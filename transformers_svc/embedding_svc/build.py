"""`lwt index build`'s work: every main-namespace page of a wiki (title + lead paragraph,
from the Action API in batches) embedded through Triton with the model it is stored
beside, then written as a FAISS index into `<version>/index/` (`index.py`) and listed in
the version's SHA512SUMS.

It uses the services' own clients (`MediaWikiClient`, `Predictor`) and `Encoder`, so the
pages are embedded exactly as the service embeds a request's text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from exporters.contract.events import fields
from transformers_svc.embedding_svc.encoder import Encoder
from transformers_svc.embedding_svc.index import (KINDS, IndexBuildError, Manifest, embedding_version,
                                                  make_index, model_file_sha512, write_index)
from transformers_svc.embedding_svc.pages import BATCH, Page, main_namespace_pages
from transformers_svc.mediawiki.client import MediaWikiClient
from transformers_svc.predictor import Predictor
from transformers_svc.settings import ServiceSettings

log = logging.getLogger("lwt.index")


@dataclass
class BuildResult:
    path: Path
    manifest: Manifest


async def _embed_pages(client: MediaWikiClient, encoder: Encoder, predictor: Predictor,
                       progress: bool) -> tuple[list[Page], np.ndarray]:
    """Fetch and embed at once: the next API batch is fetched while Triton embeds this one."""
    pages: list[Page] = []
    parts: list[np.ndarray] = []
    pending: asyncio.Task[np.ndarray] | None = None
    chunk: list[Page] = []
    bar = tqdm(desc="embedding pages", unit="page", disable=not progress)
    try:
        async for page in main_namespace_pages(client):
            chunk.append(page)
            if len(chunk) == BATCH:
                if pending is not None:
                    parts.append(await pending)
                    bar.update(len(parts[-1]))
                pending = asyncio.create_task(encoder.embed(predictor, [p.text for p in chunk]))
                pages.extend(chunk)
                chunk = []
        if pending is not None:
            parts.append(await pending)
            bar.update(len(parts[-1]))
        if chunk:
            parts.append(await encoder.embed(predictor, [p.text for p in chunk]))
            pages.extend(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
        if pending is not None and not pending.done():
            pending.cancel()
    return pages, (np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, encoder.dimension), np.float32))


async def _build(repository: Path, model: str, wiki: str, settings: ServiceSettings, kind: str,
                 progress: bool) -> BuildResult:
    if kind not in KINDS:
        raise IndexBuildError(f"unknown index kind {kind!r} (one of {', '.join(KINDS)})")
    started = time.perf_counter()
    version_dir, card = embedding_version(repository, model)
    encoder = Encoder(model, card, version_dir)
    client, predictor = MediaWikiClient(wiki, settings), Predictor(settings)
    try:
        if not await predictor.model_ready(model):
            raise IndexBuildError(f"Triton at {settings.predictor_host} does not serve {model} (not ready)")
        pages, vectors = await _embed_pages(client, encoder, predictor, progress)
    finally:
        await client.close()
    if not pages:
        raise IndexBuildError(f"the wiki at {wiki} has no main-namespace page to index")
    index, params = make_index(vectors, kind)
    model_file, digest = model_file_sha512(version_dir, card)
    manifest = Manifest(model=model, model_version=card.model_version, model_file=model_file, model_sha512=digest,
                        wiki=wiki, pages=len(pages), kind=kind,  # type: ignore[arg-type]
                        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                        dimension=int(vectors.shape[1]), params=params,
                        build_seconds=round(time.perf_counter() - started, 3), faiss=faiss.__version__)
    path = write_index(version_dir, pages, vectors, manifest, index)
    log.info("index built", extra=fields(model=model, version=card.model_version, wiki=wiki, pages=len(pages),
                                         kind=kind, seconds=manifest.build_seconds))
    return BuildResult(path, manifest)


def build_index(repository: Path, model: str, wiki: str, predictor_host: str, kind: str = "flat",
                progress: bool = True) -> BuildResult:
    """Embed every main-namespace page of `wiki` (its Action API URL) with `model` served by
    the Triton at `predictor_host`, and store the index beside the model's latest version."""
    settings = ServiceSettings(predictor_host=predictor_host, predictor_protocol="v2",  # HOST:PORT is Triton's HTTP
                               mediawiki_url=wiki, predictor_timeout=60, mediawiki_timeout=30)
    return asyncio.run(_build(Path(repository), model, wiki, settings, kind, progress))


