"""The sample datasets of `samples/`, registered through the API by `make dev` and `make demo`.

Registration is idempotent: a sample is uploaded only when no dataset of the same name and sha256 is
listed by `GET /datasets`. The emulator keeps S3 in memory, so after a restart the database still lists
a sample whose object is gone; given the emulator's S3 client, the same bytes are put back at the URI
the database records (the content is the one its sha256 names), instead of uploading a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mlops_contracts.api_client import ApiClient
from mlops_devstack.paths import repo_root


class SampleError(RuntimeError):
    """The samples could not be registered; the message says why."""


@dataclass(frozen=True)
class SampleDataset:
    name: str
    kind: str  # "train" or "eval", the API's DatasetKind
    path: Path

    @cached_property
    def content(self) -> bytes:
        return self.path.read_bytes()

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def rows(self) -> Iterator[dict[str, Any]]:
        for line in self.content.decode().splitlines():
            if line.strip():
                yield json.loads(line)


@dataclass(frozen=True)
class RegisteredDataset:
    id: int
    name: str
    kind: str
    s3_uri: str
    row_count: int
    action: str  # "uploaded", "found" or "restored" (object put back into the emulator's S3)


def samples_dir() -> Path:
    return repo_root() / "samples"


def sample_datasets(directory: Path | None = None) -> list[SampleDataset]:
    """The training and evaluation samples (train first)."""
    directory = directory or samples_dir()
    return [
        SampleDataset("platform-qa-train", "train", directory / "platform-qa-train.jsonl"),
        SampleDataset("platform-qa-eval", "eval", directory / "platform-qa-eval.jsonl"),
    ]


def sample_texts(datasets: Iterable[SampleDataset]) -> list[str]:
    """Every text of every row: what the offline model's tokenizer is trained on."""
    texts: list[str] = []
    for dataset in datasets:
        for row in dataset.rows():
            texts.extend(_strings(row))
    return texts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def register_samples(
    api: ApiClient, datasets: Iterable[SampleDataset], *, s3: Any | None = None
) -> dict[str, RegisteredDataset]:
    """Each sample's dataset in the API, by kind, uploaded only when missing. With `s3` (the
    emulator's client), an object missing from S3 is put back."""
    registered: dict[str, RegisteredDataset] = {}
    for dataset in datasets:
        try:
            found = _find(api, dataset)
            if found is None:
                registered[dataset.kind] = _upload(api, dataset)
            elif s3 is not None and _restore(s3, found["s3_uri"], dataset):
                registered[dataset.kind] = _registered(found, "restored")
            else:
                registered[dataset.kind] = _registered(found, "found")
        except OSError as exc:
            raise SampleError(f"cannot read {dataset.path}: {exc}") from exc
        except Exception as exc:
            raise SampleError(f"registering the sample dataset '{dataset.name}' failed: {exc}") from exc
    return registered


def _find(api: ApiClient, dataset: SampleDataset) -> dict[str, Any] | None:
    items = api.list_datasets(dataset.kind)
    # Newest first: a sample edited back to an earlier content reuses the newest matching upload.
    return next((d for d in items if d["name"] == dataset.name and d["sha256"] == dataset.sha256), None)


def _upload(api: ApiClient, dataset: SampleDataset) -> RegisteredDataset:
    uploaded = api.upload_dataset(dataset.name, dataset.kind, dataset.path.name, dataset.content)
    return _registered(uploaded, "uploaded")


def _registered(item: dict[str, Any], action: str) -> RegisteredDataset:
    return RegisteredDataset(
        id=int(item["id"]),
        name=item["name"],
        kind=item["kind"],
        s3_uri=item["s3_uri"],
        row_count=int(item["row_count"]),
        action=action,
    )


def _restore(s3: Any, uri: str, dataset: SampleDataset) -> bool:
    """Put the sample back at `uri` when the object is gone; True when it was."""
    from botocore.exceptions import ClientError

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=dataset.content,
        ContentType="application/x-ndjson",
        Metadata={"sha256": dataset.sha256, "dataset-name": dataset.name},
    )
    return True
