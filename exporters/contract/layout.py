"""The Triton model repository layout, spelled in exactly one place.

```
REPOSITORY/NAME/config.pbtxt        Triton's model config (exporters.triton_config)
REPOSITORY/NAME/labels.txt          class labels, one per line (classifiers)
REPOSITORY/NAME/<version>/...       the model file(s), model.yaml (the card), tokenizer/, ...
REPOSITORY/NAME/<version>/SHA512SUMS  sha512sum -c format, every file of the version
```

Versions are staged outside the repository and renamed into place, so a server polling
the repository sees a version complete, with its `SHA512SUMS`, or not at all. Names that
cross a boundary (a bucket key, a SHA512SUMS line, a CLI flag) are checked here too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from exporters.contract.errors import ExportError

SHA512SUMS = "SHA512SUMS"
CONFIG = "config.pbtxt"
LABELS = "labels.txt"
CARD = "model.yaml"
TOKENIZER = "tokenizer"
REVSCORING_FEATURES = "revscoring_features.pickle"
MODEL_FILES = (CONFIG, LABELS)  # the model-level files beside the version folders

# Model names as Triton, Kubernetes and URLs all accept them; never "." or "..".
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.+-][A-Za-z0-9_.+ -]{0,254}$")


def valid_model_name(name: str) -> bool:
    return bool(_MODEL_NAME.fullmatch(name)) and ".." not in name


def valid_version(name: str) -> bool:
    return bool(_VERSION.fullmatch(name))


def safe_relative_path(name: str) -> PurePosixPath | None:
    """`name` as a relative path inside a version folder, or None when it could escape
    (absolute, `..`, empty or dot segments, backslashes, control characters)."""
    if not name or name.startswith("/") or "\\" in name or any(ord(c) < 32 for c in name):
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") or not _SEGMENT.fullmatch(p) for p in parts):
        return None
    return PurePosixPath(*parts)


def check_model_name(name: str) -> str:
    if not valid_model_name(name):
        raise ExportError(f"{name!r} is not a valid model name (letters, digits, '_', '.', '-'; "
                          "starting with a letter or digit)")
    return name


def sha512_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_dirs(repository: Path) -> list[Path]:
    """The models of a repository: folders holding a config.pbtxt, by name."""
    return sorted(p for p in Path(repository).iterdir() if p.is_dir() and (p / CONFIG).is_file())


def versions(model_dir: Path) -> list[Path]:
    """Version folders of a model, oldest first (numeric order, as Triton reads them)."""
    if not model_dir.is_dir():
        return []
    return sorted((p for p in model_dir.iterdir() if p.is_dir() and valid_version(p.name)), key=lambda p: int(p.name))


def latest_version(model_dir: Path) -> Path | None:
    found = versions(model_dir)
    return found[-1] if found else None


def next_version(model_dir: Path) -> int:
    return max((int(p.name) for p in versions(model_dir)), default=0) + 1


def read_labels(model_dir: Path) -> list[str]:
    path = model_dir / LABELS
    return path.read_text().splitlines() if path.is_file() else []


def version_files(version_dir: Path) -> list[Path]:
    """Every file of a version except SHA512SUMS itself, in a stable order."""
    top_sums = version_dir / SHA512SUMS
    return sorted(p for p in version_dir.rglob("*") if p.is_file() and p != top_sums)


def write_sha512sums(version_dir: Path) -> Path:
    """`sha512sum` format (`<hex>  <relative path>`), so `sha512sum -c` checks it too.
    Written beside and renamed over: after files are added to a published version (a
    vector index), a reader never sees a half-written list."""
    lines = [f"{sha512_file(p)}  {p.relative_to(version_dir).as_posix()}\n" for p in version_files(version_dir)]
    atomic_write(version_dir / SHA512SUMS, "".join(lines))
    return version_dir / SHA512SUMS


def parse_sha512sums(text: str) -> dict[str, str]:
    """`{relative path: sha512}`; a line whose name could escape the folder is refused."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 128 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"SHA512SUMS line {number} is not in sha512sum format")
        if safe_relative_path(name) is None:
            raise ValueError(f"SHA512SUMS line {number} names an unsafe path {name!r}")
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


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def atomic_write(path: Path, text: str) -> None:
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
    check_model_name(name)
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
            os.rename(final, staging / "replaced")
        os.rename(version_dir, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_model_files(repository: Path, name: str, config_text: str, labels: Sequence[str] | None) -> None:
    """Write the model-level files after a version is in place (each write atomic)."""
    model_dir = repository.resolve() / name
    if labels is not None:
        atomic_write(model_dir / LABELS, "".join(f"{label}\n" for label in labels))
    atomic_write(model_dir / CONFIG, config_text)

