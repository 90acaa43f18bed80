"""`lwt push`: upload a repository's model versions to Swift through its S3 API.

A reader decides a version exists by its `SHA512SUMS` object, so that object is written
last, after every other file of the version (and the model-level `config.pbtxt` /
`labels.txt`) is up: a killed push leaves no visible version. Every object carries its
sha512 in user metadata, which `lwt pull` checks as well as `SHA512SUMS`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from boto3.s3.transfer import TransferConfig
from tqdm import tqdm

from exporters.contract.errors import StoreError
from exporters.contract.events import fields
from exporters.contract.layout import (MODEL_FILES, SHA512SUMS, model_dirs, sha512_file, verify_version,
                                       version_files, versions)
from exporters.store.s3 import SHA512_KEY, S3Url, s3_errors

log = logging.getLogger(__name__)

TRANSFER = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)


def select_models(names: list[str], wanted: list[str] | None, where: str) -> list[str]:
    if not wanted:
        return names
    missing = sorted(set(wanted) - set(names))
    if missing:
        raise StoreError(f"{where}: no model named {', '.join(missing)}")
    return [n for n in names if n in wanted]


def local_models(repository: Path) -> list[str]:
    if not repository.is_dir():
        raise StoreError(f"{repository}: no such repository folder")
    return [p.name for p in model_dirs(repository)]


def _upload(s3: Any, path: Path, bucket: str, key: str, progress: Callable[[int], None]) -> None:
    s3.upload_file(str(path), bucket, key, ExtraArgs={"Metadata": {SHA512_KEY: sha512_file(path)}},
                   Config=TRANSFER, Callback=progress)


def ensure_bucket(s3: Any, bucket: str) -> None:
    with s3_errors(f"s3://{bucket}"):
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in names:
            s3.create_bucket(Bucket=bucket)
            log.info("bucket created", extra=fields(bucket=bucket))


def push(repository: Path, url: str, s3: Any, models: list[str] | None = None, progress: bool = True) -> list[dict]:
    """Upload every version of the chosen models; return what was published."""
    target = S3Url.parse(url)
    names = select_models(local_models(repository), models, str(repository))
    plan: list[tuple[str, Path, list[Path]]] = []
    for name in names:
        for version in versions(repository / name):
            problems = verify_version(version)
            if problems:
                raise StoreError(f"{version}: does not verify locally, not pushed ({problems[0]})")
            plan.append((name, version, version_files(version)))
    ensure_bucket(s3, target.bucket)
    total = sum(f.stat().st_size for _, v, files in plan for f in files + [v / SHA512SUMS])
    published = []
    with tqdm(total=total, unit="B", unit_scale=True, desc="push", disable=not progress) as bar, \
            ThreadPoolExecutor(4) as pool:
        for name, version, files in plan:
            model_dir = version.parent
            key = lambda path: target.key(name, path.relative_to(model_dir).as_posix())  # noqa: E731
            model_files = [model_dir / n for n in MODEL_FILES if (model_dir / n).is_file()]
            with s3_errors(f"push {name}/{version.name}"):
                jobs = [pool.submit(_upload, s3, f, target.bucket, key(f), bar.update)
                        for f in files + model_files]
                for job in jobs:
                    job.result()
                _upload(s3, version / SHA512SUMS, target.bucket, key(version / SHA512SUMS), bar.update)
            published.append({"model": name, "version": int(version.name), "files": len(files) + 1,
                              "url": f"s3://{target.bucket}/{target.key(name, version.name)}/"})
            log.info("version published", extra=fields(**published[-1]))
    return published
