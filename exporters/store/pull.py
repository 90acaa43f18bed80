"""`lwt pull`: download models from Swift and verify every file before a server sees it.

What KServe's storage-initializer does for a pod, plus the check done by hand today:
each file must match both its version's `SHA512SUMS` and the sha512 in its object
metadata. A model is assembled in a staging folder beside DIR and renamed into place only
when every file verifies; on any mismatch, missing file or version without `SHA512SUMS`
(an unpublished or interrupted push) the model is refused and nothing of it is left in
DIR. Files already in DIR that verify are not downloaded again.

Nothing from the bucket is trusted as a path: model and version names must match the
layout's strict patterns, every key and every SHA512SUMS name must be a plain relative
path (no `..`, no absolute path, no empty or dot segment), and each resolved target must
lie inside the staging folder. A model that breaks any of it is refused; nothing outside
DIR is ever written or deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from exporters.contract.errors import StoreError
from exporters.contract.events import fields
from exporters.contract.layout import (CONFIG, MODEL_FILES, SHA512SUMS, parse_sha512sums, safe_relative_path, sha512_file,
                                       valid_model_name, valid_version)
from exporters.store.push import TRANSFER, select_models
from exporters.store.s3 import SHA512_KEY, S3Url, s3_errors

log = logging.getLogger(__name__)


@dataclass
class PullResult:
    pulled: list[dict] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """This model cannot be trusted; the message names the file and the reason."""


def remote_models(s3: Any, target: S3Url) -> dict[str, dict[str, int]]:
    """`{model: {relative key: size}}` under the prefix, as the bucket names them (unchecked)."""
    models: dict[str, dict[str, int]] = defaultdict(dict)
    prefix = f"{target.prefix}/" if target.prefix else ""
    with s3_errors(f"s3://{target.bucket}/{target.prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                model, _, rest = item["Key"][len(prefix):].partition("/")
                models[model][rest] = item["Size"]
    return dict(models)


def inside(base: Path, relative: str) -> Path:
    """`base/relative`, refused unless it is a plain relative path that stays in `base`."""
    path = safe_relative_path(relative)
    target = (base / path).resolve() if path is not None else None
    if target is None or not target.is_relative_to(base.resolve()):
        raise Refused(f"{relative!r}: not a safe file name")
    return target


def _layout(name: str, files: dict[str, int]) -> dict[str, set[str]]:
    """`{version: {relative file}}`, checking every key of the model against the layout."""
    versions: dict[str, set[str]] = defaultdict(set)
    for rel in files:
        head, _, rest = rel.partition("/")
        if rel in MODEL_FILES:
            continue
        if not rest or not valid_version(head):
            raise Refused(f"{name}/{rel}: unexpected object outside a version folder")
        if safe_relative_path(rest) is None:
            raise Refused(f"{name}/{rel}: not a safe file name")
        versions[head].add(rest)
    if CONFIG not in files:
        raise Refused(f"{name}: no {CONFIG}")
    if not versions:
        raise Refused(f"{name}: no version")
    return versions


def _remote_sha512(s3: Any, bucket: str, key: str) -> str:
    metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    if SHA512_KEY not in metadata:
        raise Refused(f"{key}: no sha512 in the object metadata")
    return metadata[SHA512_KEY]


def _fetch(s3: Any, bucket: str, key: str, target: Path, expected: str, have: Path, bar: tqdm) -> bool:
    """Place a verified copy at `target`; return True when it was downloaded."""
    remote = _remote_sha512(s3, bucket, key)
    if remote != expected:
        raise Refused(f"{key}: object metadata sha512 differs from SHA512SUMS")
    target.parent.mkdir(parents=True, exist_ok=True)
    if have.is_file() and not have.is_symlink() and sha512_file(have) == expected:
        os.link(have, target)
        return False
    s3.download_file(bucket, key, str(target), Config=TRANSFER, Callback=bar.update)
    if sha512_file(target) != expected:
        raise Refused(f"{key}: downloaded content does not match its sha512")
    return True


def _assemble(s3: Any, target: S3Url, name: str, files: dict[str, int], staging: Path, current: Path,
              pool: ThreadPoolExecutor, bar: tqdm) -> dict:
    versions = _layout(name, files)
    jobs: list[Future[bool]] = []
    for version, names in sorted(versions.items(), key=lambda v: int(v[0])):
        if SHA512SUMS not in names:
            raise Refused(f"{name}/{version}: no {SHA512SUMS} (an unpublished or interrupted push)")
        sums_key = target.key(name, version, SHA512SUMS)
        body = s3.get_object(Bucket=target.bucket, Key=sums_key)
        text = body["Body"].read()
        if hashlib.sha512(text).hexdigest() != body.get("Metadata", {}).get(SHA512_KEY):
            raise Refused(f"{sums_key}: {SHA512SUMS} does not match its metadata sha512")
        version_dir = inside(staging, version)
        version_dir.mkdir(parents=True)
        (version_dir / SHA512SUMS).write_bytes(text)
        try:
            sums = parse_sha512sums(text.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(f"{sums_key}: {exc}") from None
        extra = sorted(names - set(sums) - {SHA512SUMS})
        if extra:
            raise Refused(f"{name}/{version}/{extra[0]}: not listed in {SHA512SUMS}")
        for rel, digest in sums.items():
            if rel not in names:
                raise Refused(f"{name}/{version}/{rel}: missing from the store")
            jobs.append(pool.submit(_fetch, s3, target.bucket, target.key(name, version, rel),
                                    inside(version_dir, rel), digest, current / version / rel, bar))
    for rel in MODEL_FILES:
        if rel in files:
            key = target.key(name, rel)
            jobs.append(pool.submit(_fetch, s3, target.bucket, key, inside(staging, rel),
                                    _remote_sha512(s3, target.bucket, key), current / rel, bar))
    try:
        downloaded = sum(job.result() for job in jobs)
    except BaseException:
        for job in jobs:  # no download may still be writing when the staging folder goes
            job.cancel()
        wait(jobs)
        raise
    return {"model": name, "versions": sorted(int(v) for v in versions), "downloaded": downloaded,
            "skipped": len(jobs) - downloaded}


def _pull_one(s3: Any, source: S3Url, name: str, files: dict[str, int], directory: Path,
              pool: ThreadPoolExecutor, bar: tqdm) -> dict:
    if not valid_model_name(name):
        raise Refused(f"{name!r}: not a valid model name")
    current = directory / name  # the name is checked: this stays inside DIR
    staging_root = Path(tempfile.mkdtemp(prefix=f".lwt-pull-{name}-", dir=directory.parent))
    staging = staging_root / name
    staging.mkdir()
    try:
        with s3_errors(f"pull {name}"):
            summary = _assemble(s3, source, name, files, staging, current, pool, bar)
        if current.exists():
            os.rename(current, staging_root / "previous")
        os.rename(staging, current)
        return summary
    except Refused:
        shutil.rmtree(current, ignore_errors=True)  # nothing a server could load
        raise
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def pull(url: str, directory: Path, s3: Any, models: list[str] | None = None, progress: bool = True) -> PullResult:
    source = S3Url.parse(url)
    remote = remote_models(s3, source)
    if not remote:
        raise StoreError(f"{url}: no models there")
    names = select_models(sorted(remote), models, url)
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    result = PullResult()
    total = sum(size for n in names for size in remote[n].values())
    with tqdm(total=total, unit="B", unit_scale=True, desc="pull", disable=not progress) as bar, \
            ThreadPoolExecutor(4) as pool:
        for name in names:
            try:
                summary = _pull_one(s3, source, name, remote[name], directory, pool, bar)
            except Refused as exc:
                result.refused[name] = str(exc)
                log.error("model refused", extra=fields(model=name, reason=str(exc)))
                continue
            result.pulled.append(summary)
            log.info("model verified", extra=fields(**summary))
    return result


def pull_verified(url: str, directory: Path, s3: Any, models: list[str] | None = None,
                  progress: bool = True) -> list[dict]:
    """Pull; StoreError naming every refused model (nothing of them is left in DIR)."""
    result = pull(url, directory, s3, models, progress)
    if result.refused:
        reasons = "; ".join(f"{name}: {why}" for name, why in result.refused.items())
        raise StoreError(f"refused {len(result.refused)} model(s), nothing of them left in {directory}: {reasons}")
    return result.pulled
