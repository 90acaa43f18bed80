"""One boto3 S3 client per process for Swift's S3 API, and S3 errors as one clear line.

Credentials come from boto3's own chain (the standard `AWS_*` variables or
`~/.aws/credentials`); the endpoint from `--endpoint-url` or `AWS_ENDPOINT_URL`.
Nothing here prints or logs a credential.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                 NoCredentialsError, ReadTimeoutError)

from exporters.contract.errors import StoreError

SHA512_KEY = "sha512"  # user metadata: x-amz-meta-sha512

_CLIENTS: dict[tuple, Any] = {}


def reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Does anything answer HTTP at the endpoint (any status counts)?"""
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def endpoint_url(given: str | None = None) -> str | None:
    """The S3 endpoint: `--endpoint-url`, else the standard `AWS_ENDPOINT_URL`."""
    return given or os.environ.get("AWS_ENDPOINT_URL") or None


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "S3Url":
        if not url.startswith("s3://"):
            raise StoreError(f"{url}: not an s3://BUCKET/PREFIX url")
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise StoreError(f"{url}: no bucket")
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


def client(endpoint_url: str | None = None, access_key: str | None = None, secret_key: str | None = None,
           region: str | None = None, attempts: int = 5, timeout: float = 10.0) -> Any:
    """A cached client: retries with backoff on throttling, 5xx and connection errors."""
    cache_key = (endpoint_url, access_key, secret_key, region, attempts, timeout)
    if cache_key not in _CLIENTS:
        config = Config(
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=timeout, read_timeout=timeout * 3,
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            max_pool_connections=16,
        )
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                        region_name=region)
        _CLIENTS[cache_key] = session.client("s3", endpoint_url=endpoint_url, config=config)
    return _CLIENTS[cache_key]


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Translate botocore's exceptions into one line naming the problem."""
    try:
        yield
    except NoCredentialsError as exc:
        raise StoreError(f"{what}: no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from exc
    except EndpointConnectionError as exc:
        raise StoreError(f"{what}: cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', '')}") from exc
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise StoreError(f"{what}: the S3 endpoint timed out") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",):
            raise StoreError(f"{what}: no such bucket") from exc
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
            raise StoreError(f"{what}: access denied (check the S3 credentials)") from exc
        if code in ("NoSuchKey", "404") or status == 404:
            raise StoreError(f"{what}: not found") from exc
        raise StoreError(f"{what}: S3 error {code or status}") from exc
    except BotoCoreError as exc:
        raise StoreError(f"{what}: {exc}") from exc
