"""`lwt pull`: download models from Swift and verify every file before a server sees it.

What KServe's storage-initializer does for a pod, plus the check done by hand today:
each file must match both its version's `SHA512SUMS` and the sha512 in its object
metadata. A model is assembled in a staging folder beside DIR and renamed into place only
when every file verifies; on any mismatch, missing file or version without `SHA512SUMS`
(an unpublished or interrupted push) the model is refused and nothing of it is left in
DIR. Files already in DIR that verify are not downloaded again.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from exporters.errors import StoreError
from exporters.repository import SHA512SUMS, parse_sha512sums, sha512_file
from exporters.store.push import TRANSFER, select_models
from exporters.store.s3 import SHA512_KEY, S3Url, s3_errors

log = logging.getLogger(__name__)
MODEL_FILES = ("config.pbtxt", "labels.txt")


@dataclass
class PullResult:
    pulled: list[dict] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """This model cannot be trusted; the message names the file and the reason."""


def remote_models(s3: Any, target: S3Url) -> dict[str, dict[str, Any]]:
    """`{model: {relative key: size}}` under the prefix."""
    models: dict[str, dict[str, Any]] = defaultdict(dict)
    prefix = f"{target.prefix}/" if target.prefix else ""
    with s3_errors(f"s3://{target.bucket}/{target.prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                model, _, rest = item["Key"][len(prefix):].partition("/")
                if rest:
                    models[model][rest] = item["Size"]
    return dict(models)


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
    if have.is_file() and sha512_file(have) == expected:
        os.link(have, target)
        return False
    s3.download_file(bucket, key, str(target), Config=TRANSFER, Callback=bar.update)
    if sha512_file(target) != expected:
        raise Refused(f"{key}: downloaded content does not match its sha512")
    return True


def _assemble(s3: Any, target: S3Url, name: str, files: dict[str, Any], staging: Path, current: Path,
              pool: ThreadPoolExecutor, bar: tqdm) -> dict:
    versions: dict[str, set[str]] = defaultdict(set)
    for rel in files:
        head, _, rest = rel.partition("/")
        if head.isdigit() and rest:
            versions[head].add(rest)
        elif rel not in MODEL_FILES:
            raise Refused(f"{name}/{rel}: unexpected object outside a version folder")
    if "config.pbtxt" not in files:
        raise Refused(f"{name}: no config.pbtxt")
    if not versions:
        raise Refused(f"{name}: no version")
    jobs = []
    for version, names in sorted(versions.items()):
        if SHA512SUMS not in names:
            raise Refused(f"{name}/{version}: no {SHA512SUMS} (an unpublished or interrupted push)")
        sums_key = target.key(name, version, SHA512SUMS)
        body = s3.get_object(Bucket=target.bucket, Key=sums_key)
        text = body["Body"].read()
        if sha512_hex(text) != body.get("Metadata", {}).get(SHA512_KEY):
            raise Refused(f"{sums_key}: {SHA512SUMS} does not match its metadata sha512")
        (staging / version).mkdir(parents=True)
        (staging / version / SHA512SUMS).write_bytes(text)
        sums = parse_sha512sums(text.decode())
        extra = sorted(names - set(sums) - {SHA512SUMS})
        if extra:
            raise Refused(f"{name}/{version}/{extra[0]}: not listed in {SHA512SUMS}")
        for rel, digest in sums.items():
            if rel not in names:
                raise Refused(f"{name}/{version}/{rel}: missing from the store")
            jobs.append(pool.submit(_fetch, s3, target.bucket, target.key(name, version, rel),
                                    staging / version / rel, digest, current / version / rel, bar))
    for rel in MODEL_FILES:
        if rel in files:
            key = target.key(name, rel)
            jobs.append(pool.submit(_fetch, s3, target.bucket, key, staging / rel,
                                    _remote_sha512(s3, target.bucket, key), current / rel, bar))
    downloaded = sum(job.result() for job in jobs)
    return {"model": name, "versions": sorted(int(v) for v in versions), "downloaded": downloaded,
            "skipped": len(jobs) - downloaded}


def sha512_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha512(data).hexdigest()


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
            staging_root = Path(tempfile.mkdtemp(prefix=f".lwt-pull-{name}-", dir=directory.parent))
            staging = staging_root / name
            current = directory / name
            try:
                with s3_errors(f"pull {name}"):
                    summary = _assemble(s3, source, name, remote[name], staging, current, pool, bar)
                if current.exists():
                    os.rename(current, staging_root / "previous")
                os.rename(staging, current)
                result.pulled.append(summary)
                log.info("model verified", extra=summary)
            except Refused as exc:
                shutil.rmtree(current, ignore_errors=True)  # nothing a server could load
                result.refused[name] = str(exc)
                log.error("model refused", extra={"model": name, "reason": str(exc)})
            finally:
                shutil.rmtree(staging_root, ignore_errors=True)
    return result
