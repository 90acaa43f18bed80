"""`lwt push` / `lwt pull` / `lwt store` against a real OpenStack Swift on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from exporters.contract.layout import sha512_file, staged_version
from exporters.store.s3 import client
from lwt.stack.swift import SwiftStore
from lwt.stack.process import free_port

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture(scope="session")
def swift(tmp_path_factory):
    with SwiftStore(tmp_path_factory.mktemp("swift"), free_port()) as store:
        yield store


@pytest.fixture()
def env(swift) -> dict[str, str]:
    return {**os.environ, **swift.environment()}


@pytest.fixture()
def s3(swift):
    e = swift.environment()
    return client(e["AWS_ENDPOINT_URL"], e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"], e["AWS_DEFAULT_REGION"])


def run(lwt, env, *args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([*lwt, "--log-level", "WARNING", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha512_file(p) for p in root.rglob("*") if p.is_file()}


def test_push_then_pull_round_trips_byte_for_byte(lwt, env, repository, tmp_path):
    pushed = run(lwt, env, "push", str(repository), "s3://roundtrip/prod", "--models", "sk-gbm,rs-multilabel")
    assert pushed.returncode == 0, pushed.stderr
    assert "published sk-gbm version 1" in pushed.stdout
    pulled = run(lwt, env, "pull", "s3://roundtrip/prod", str(tmp_path / "out"))
    assert pulled.returncode == 0, pulled.stderr
    for model in ("sk-gbm", "rs-multilabel"):
        assert _tree(tmp_path / "out" / model) == _tree(repository / model)
    again = run(lwt, env, "pull", "s3://roundtrip/prod", str(tmp_path / "out"), "--json")
    assert '"downloaded": 0' in again.stdout  # files that verify are not fetched again


def test_objects_carry_their_sha512_in_metadata(lwt, env, s3):
    run(lwt, env, "push", str(SHIPPED), "s3://meta/p")
    head = s3.head_object(Bucket="meta", Key="p/enwiki-reverted/1/model.onnx")
    assert head["Metadata"]["sha512"] == sha512_file(SHIPPED / "enwiki-reverted" / "1" / "model.onnx")


@pytest.mark.parametrize("metadata", ["kept", "forged"])
def test_a_tampered_object_is_refused_and_nothing_is_left(lwt, env, s3, tmp_path, metadata):
    bucket = f"tamper-{metadata}"
    assert run(lwt, env, "push", str(SHIPPED), f"s3://{bucket}/p").returncode == 0
    key = "p/enwiki-reverted/1/model.onnx"
    original = s3.get_object(Bucket=bucket, Key=key)
    body = bytearray(original["Body"].read())
    body[len(body) // 2] ^= 0xFF
    import hashlib

    meta = original["Metadata"] if metadata == "kept" else {"sha512": hashlib.sha512(bytes(body)).hexdigest()}
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body), Metadata=meta)
    result = run(lwt, env, "pull", f"s3://{bucket}/p", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "enwiki-reverted" in result.stderr and "Traceback" not in result.stderr
    assert "sha512" in result.stderr or "SHA512SUMS" in result.stderr
    assert not (tmp_path / "out" / "enwiki-reverted").exists()


def test_a_pull_over_a_good_copy_that_fails_removes_it(lwt, env, s3, tmp_path):
    assert run(lwt, env, "push", str(SHIPPED), "s3://regress/p").returncode == 0
    assert run(lwt, env, "pull", "s3://regress/p", str(tmp_path / "out")).returncode == 0
    s3.delete_object(Bucket="regress", Key="p/enwiki-reverted/1/model.yaml")
    result = run(lwt, env, "pull", "s3://regress/p", str(tmp_path / "out"))
    assert result.returncode != 0 and "missing from the store" in result.stderr
    assert not (tmp_path / "out" / "enwiki-reverted").exists()


def test_an_interrupted_push_leaves_no_visible_version(lwt, env, s3, tmp_path):
    repo = tmp_path / "repo"
    with staged_version(repo, "big", 1) as (folder, _):
        for i in range(6):
            (folder / f"shard-{i}.bin").write_bytes(os.urandom(24 << 20))
    (repo / "big" / "config.pbtxt").write_text('name: "big"\nbackend: "onnxruntime"\n')
    process = subprocess.Popen([*lwt, "--log-level", "WARNING", "push", str(repo), "s3://interrupted/p"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    seen = False
    while time.monotonic() < deadline and not seen:  # kill once the first object has landed
        listing = s3.list_objects_v2(Bucket="interrupted", Prefix="p/") if _bucket(s3, "interrupted") else {}
        seen = listing.get("KeyCount", 0) > 0
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert seen, "the push should have started uploading"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="interrupted", Prefix="p/").get("Contents", [])]
    assert "p/big/1/SHA512SUMS" not in keys
    result = run(lwt, env, "pull", "s3://interrupted/p", str(tmp_path / "out"))
    # Which object landed first decides the reason (no SHA512SUMS, or no config.pbtxt yet):
    # the property is that the model is refused and nothing of it is visible.
    assert result.returncode == 1 and "refused 1 model(s)" in result.stderr and "big:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "big").exists()


def _bucket(s3, name: str) -> bool:
    return name in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}


def test_clear_errors(lwt, env, tmp_path):
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    denied = run(lwt, wrong, "pull", "s3://meta/p", str(tmp_path / "a"))
    assert denied.returncode != 0 and "access denied" in denied.stderr
    assert "not-the-secret" not in denied.stderr + denied.stdout
    missing = run(lwt, env, "pull", "s3://no-such-bucket/p", str(tmp_path / "b"))
    assert missing.returncode != 0 and "no such bucket" in missing.stderr
    down = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    unreachable = run(lwt, down, "pull", "s3://meta/p", str(tmp_path / "c"))
    assert unreachable.returncode != 0 and "cannot reach the S3 endpoint" in unreachable.stderr
    assert time.monotonic() - started < 60
    for result in (denied, missing, unreachable):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _serve_and_infer(lwt, env, tmp_path, *extra: str) -> str:
    ports = [str(free_port()) for _ in range(4)]
    process = subprocess.Popen(
        [*lwt, "--log-level", "WARNING", "serve", "--repository", "s3://served/p", "--http-port", ports[0],
         "--grpc-port", ports[1], "--metrics-port", ports[2], "--supervisor-port", ports[3], "--workdir", str(tmp_path / "w"), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "Triton ready" in line, process.stderr.read() if process.poll() is not None else line
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/models/enwiki-reverted/ready") as ready:
            assert ready.status == 200
        return line
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0


def test_triton_serves_a_model_pulled_from_the_store(lwt, env, tmp_path):
    assert run(lwt, env, "push", str(SHIPPED), "s3://served/p").returncode == 0
    _serve_and_infer(lwt, env, tmp_path)
    assert _tree(tmp_path / "w" / "repository" / "enwiki-reverted") == _tree(SHIPPED / "enwiki-reverted")


def test_triton_reads_swift_directly_when_asked(lwt, env, tmp_path):
    assert run(lwt, env, "push", str(SHIPPED), "s3://served/p").returncode == 0
    _serve_and_infer(lwt, env, tmp_path, "--direct-s3")
    assert not (tmp_path / "w" / "repository").exists()


def test_store_up_prints_exports_and_down_stops_everything(lwt, tmp_path):
    port = free_port()
    memcached_before = _count("memcached")
    process = subprocess.Popen([*lwt, "--log-level", "WARNING", "store", "up", "--dir", str(tmp_path / "s"),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [process.stdout.readline().strip() for _ in range(5)]
    assert lines[:4] == [f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}", "export AWS_ACCESS_KEY_ID=test:tester",
                         "export AWS_SECRET_ACCESS_KEY=testing", "export AWS_DEFAULT_REGION=us-east-1"]
    stopped = subprocess.run([*lwt, "store", "down", "--dir", str(tmp_path / "s")], capture_output=True, text=True)
    assert stopped.returncode == 0
    assert process.wait(timeout=30) == 0
    alive = subprocess.run(["pgrep", "-f", str(tmp_path / "s")], capture_output=True, text=True).stdout.split()
    assert alive == []
    assert _count("memcached") == memcached_before


def _count(name: str) -> int:
    return len(subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split())


# --- a crafted bucket: keys and SHA512SUMS lines are not trusted as paths ---------------------

def _publish(s3, bucket: str, objects: dict[str, bytes]) -> None:
    """Objects as a push would leave them: each with its sha512 in the metadata."""
    import hashlib

    if not _bucket(s3, bucket):
        s3.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha512": hashlib.sha512(body).hexdigest()})


def _sums(files: dict[str, bytes]) -> bytes:
    import hashlib

    return "".join(f"{hashlib.sha512(b).hexdigest()}  {name}\n" for name, b in files.items()).encode()


@pytest.mark.parametrize("evil", ["../../../../escape_rel.txt", "/{abs}/escape_abs.txt", "a/../../x.txt", "./x.txt"])
def test_a_key_that_would_escape_is_refused_and_nothing_is_written_outside(lwt, env, s3, tmp_path, evil):
    bucket = f"crafted-{abs(hash(evil)) % 10**8}"
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = evil.format(abs=str(outside).lstrip("/"))
    payload = {evil: b"pwned"}
    _publish(s3, bucket, {"p/m/config.pbtxt": b'name: "m"\n', f"p/m/1/{evil}": b"pwned",
                          "p/m/1/SHA512SUMS": _sums(payload)})
    directory = tmp_path / "deep" / "dir"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run(lwt, env, "pull", f"s3://{bucket}/p", str(directory))
    assert result.returncode == 1 and "refused 1 model(s)" in result.stderr and "Traceback" not in result.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before] == [Path("deep"), Path("deep/dir")]  # DIR itself, empty
    for up in (tmp_path.parent, tmp_path.parent.parent):
        assert not (up / "escape_rel.txt").exists()


def test_a_sha512sums_line_that_would_escape_is_refused(lwt, env, s3, tmp_path):
    files = {"../../sums_escape.txt": b"pwned"}
    _publish(s3, "crafted-sums", {"p/m/config.pbtxt": b'name: "m"\n', "p/m/1/model.onnx": b"x",
                                  "p/m/1/SHA512SUMS": _sums(files)})
    result = run(lwt, env, "pull", "s3://crafted-sums/p", str(tmp_path / "out"))
    assert result.returncode == 1 and "unsafe path" in result.stderr
    assert not (tmp_path / "sums_escape.txt").exists() and not (tmp_path.parent / "sums_escape.txt").exists()


def test_a_model_named_dot_dot_never_deletes_the_parent(lwt, env, s3, tmp_path):
    _publish(s3, "crafted-dotdot", {"p/../labels.txt": b"true\n", "p/good/config.pbtxt": b'name: "good"\n'})
    parent = tmp_path / "parent"
    (parent / "dir").mkdir(parents=True)
    (parent / "keep.txt").write_text("still here")
    result = run(lwt, env, "pull", "s3://crafted-dotdot/p", str(parent / "dir"))
    assert result.returncode == 1 and "not a valid model name" in result.stderr
    assert (parent / "keep.txt").read_text() == "still here" and (parent / "dir").is_dir()
