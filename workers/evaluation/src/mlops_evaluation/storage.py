"""Reading and writing the worker's objects: s3:// URIs through the platform's client factory, and
local paths (plain or file://) for development."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

from mlops_contracts import safe_files
from mlops_contracts.aws import aws_client


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path | None:
    """The path of a local URI (`/abs/path` or `file:///abs/path`), None for s3:// URIs."""
    if uri.startswith("s3://"):
        return None
    if uri.startswith("file://"):
        return Path(urlparse(uri).path)
    return Path(uri)


def read_bytes(uri: str) -> bytes:
    path = local_path(uri)
    if path is not None:
        return path.read_bytes()
    bucket, key = split_s3_uri(uri)
    body = aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    try:
        data: bytes = body.read()
    finally:
        body.close()
    return data


def download(uri: str, destination: Path) -> Path:
    """Copy an object (or a local file) to `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None:
        shutil.copyfile(path, destination)
        return destination
    bucket, key = split_s3_uri(uri)
    aws_client("s3").download_file(bucket, key, str(destination))
    return destination


def download_prefix(uri: str, destination: Path) -> Path:
    """Copy every object under an s3:// prefix (a model directory) to `destination`.

    Raises UnsafePathError (a ValueError) when a key would land outside `destination`.
    """
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    if not safe_files.download_s3_prefix(aws_client("s3"), bucket, prefix, destination):
        raise FileNotFoundError(f"no objects under {uri}")
    return destination


def put_text(bucket: str, key: str, text: str, content_type: str) -> str:
    aws_client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType=content_type)
    return f"s3://{bucket}/{key}"
