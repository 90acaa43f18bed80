"""`lwt index build`: a related-articles index of a wiki, stored beside an embedding model.

The index is built by `transformers_svc.embedding_svc.build` (pages from the MediaWiki
API, embeddings through Triton, FAISS); this command only provides a Triton when none is
given: one started on free loopback ports for the purpose, serving that model only, and
stopped at the end.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from exporters.contract.errors import LwtError, UsageError
from exporters.contract.layout import check_model_name, latest_version
from lwt.stack.process import free_port
from lwt.stack.triton import Ports, TritonServer

KINDS = ("flat", "ivf", "hnsw")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def register(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser("index", help="related-articles indexes of a wiki, built with an embedding model")
    actions = index.add_subparsers(dest="action", required=True, metavar="{build}")
    build = actions.add_parser("build", help="embed every main-namespace page of a wiki into <version>/index/")
    build.add_argument("--wiki", required=True, help="the wiki's Action API URL, e.g. http://127.0.0.1:18080/api.php")
    build.add_argument("--repository", required=True, type=Path, help="the model repository holding the model")
    build.add_argument("--model", required=True, help="the sentence-embedding model, e.g. mini-embedding")
    build.add_argument("--triton", metavar="HOST:PORT",
                       help="a Triton (HTTP) serving the model (default: start one for the build)")
    build.add_argument("--index", choices=KINDS, default="flat",
                       help="flat: exact inner product (default); ivf or hnsw: approximate, for large wikis")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    if not args.wiki.startswith(("http://", "https://")):
        raise UsageError(f"--wiki must be an http(s) Action API URL, got {args.wiki!r}")
    if args.triton is not None and not _HOST_PORT.fullmatch(args.triton):
        raise UsageError(f"--triton must be HOST:PORT, got {args.triton!r}")
    try:
        check_model_name(args.model)
    except LwtError as exc:  # a bad flag value is a usage error
        raise UsageError(exc.message) from None
    repository = args.repository.resolve()
    if latest_version(repository / args.model) is None:
        raise UsageError(f"no model {args.model!r} with a version in {repository}")
    # The one import here, as in every `lwt` command module: the builder brings KServe, FAISS
    # and transformers (~0.5 GB, seconds), which every other `lwt` command would pay at start.
    from transformers_svc.embedding_svc.build import build_index

    progress = not args.no_progress
    if args.triton:
        result = build_index(repository, args.model, args.wiki, args.triton, args.index, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="lwt-index-triton-") as work:
            triton = TritonServer(repository, Ports(free_port(), free_port(), free_port()), workdir=Path(work),
                                  model_control_mode="explicit", extra_args=(f"--load-model={args.model}",))
            with triton:
                result = build_index(repository, args.model, args.wiki, triton.http_url, args.index, progress)
    m = result.manifest
    print(f"indexed {m.pages} pages of {m.wiki} with {m.model} version {m.model_version} ({m.kind}, {m.dimension} "
          f"dims) in {m.build_seconds:.1f} s -> {result.path}; SHA512SUMS rewritten")
    return 0
