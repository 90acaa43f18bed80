"""The Triton model repository layout on disk, written in exactly one place.

Versions are staged outside the repository and renamed into place, so a server polling
the repository sees a version complete, with its `SHA512SUMS`, or not at all.
`config.pbtxt` itself is built in `exporters.triton_config`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from exporters.errors import ExportError

SHA512SUMS = "SHA512SUMS"
CONFIG = "config.pbtxt"
LABELS = "labels.txt"
CARD = "model.yaml"


def sha512_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def version_files(version_dir: Path) -> list[Path]:
    """Every file of a version except SHA512SUMS itself, in a stable order."""
    top_sums = version_dir / SHA512SUMS
    return sorted(p for p in version_dir.rglob("*") if p.is_file() and p != top_sums)


def write_sha512sums(version_dir: Path) -> Path:
    """`sha512sum` format (`<hex>  <relative path>`), so `sha512sum -c` checks it too."""
    lines = [f"{sha512_file(p)}  {p.relative_to(version_dir).as_posix()}\n" for p in version_files(version_dir)]
    target = version_dir / SHA512SUMS
    target.write_text("".join(lines))
    return target


def parse_sha512sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 128:
            raise ValueError(f"SHA512SUMS line {number} is not in sha512sum format")
        sums[name] = digest
    return sums


def verify_version(version_dir: Path) -> list[str]:
    """Problems found checking a version against its SHA512SUMS (empty when it verifies)."""
    sums_path = version_dir / SHA512SUMS
    if not sums_path.is_file():
        return [f"{version_dir}: no {SHA512SUMS}"]
    try:
        sums = parse_sha512sums(sums_path.read_text())
    except ValueError as exc:
        return [f"{sums_path}: {exc}"]
    problems = []
    present = {p.relative_to(version_dir).as_posix() for p in version_files(version_dir)}
    for name, digest in sums.items():
        path = version_dir / name
        if name not in present:
            problems.append(f"{path}: missing")
        elif sha512_file(path) != digest:
            problems.append(f"{path}: sha512 mismatch")
    problems.extend(f"{version_dir / n}: not listed in {SHA512SUMS}" for n in sorted(present - set(sums)))
    return problems


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a server in another account must read it
    os.replace(tmp, path)


@contextmanager
def staged_version(
    repository: Path, name: str, version: int | None, force: bool = False
) -> Iterator[tuple[Path, int]]:
    """Yield an empty staging folder for `name/<version>`; publish it only on success.

    The staging folder sits beside the repository (same filesystem, so the final
    `rename` is atomic) and outside it, so no server ever scans a half-written version.
    """
    repository = repository.resolve()
    model_dir = repository / name
    version = version or next_version(model_dir)
    final = model_dir / str(version)
    if final.exists() and not force:
        raise ExportError(f"{name} version {version} already exists in {repository} (use --force to replace it)")
    anchor = next(p for p in repository.parents if p.is_dir())  # nothing created before success
    staging = Path(tempfile.mkdtemp(prefix=f".lwt-staging-{name}-", dir=anchor))
    try:
        version_dir = staging / str(version)
        version_dir.mkdir()
        yield version_dir, version
        write_sha512sums(version_dir)
        _fsync_tree(version_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():  # --force: move the old one aside first, then drop it
            old = staging / "replaced"
            os.rename(final, old)
        os.rename(version_dir, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_model_files(repository: Path, name: str, config_text: str, labels: Sequence[str] | None) -> None:
    """Write the model-level files after a version is in place (each write atomic)."""
    model_dir = repository.resolve() / name
    if labels is not None:
        _atomic_write(model_dir / LABELS, "".join(f"{label}\n" for label in labels))
    _atomic_write(model_dir / CONFIG, config_text)
