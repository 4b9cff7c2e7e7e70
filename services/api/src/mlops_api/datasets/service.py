"""Dataset use cases. An upload is validated completely before anything is written; the object is
stored first and removed again if the database insert fails, so a failed upload leaves nothing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any, BinaryIO
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.keys import Principal
from mlops_api.datasets.models import Dataset
from mlops_api.datasets.validation import validate_jsonl
from mlops_api.errors import NotFound, PayloadTooLarge, Unprocessable
from mlops_contracts.datasets import DatasetKind

log = logging.getLogger(__name__)


def metadata_value(name: str) -> str:
    """S3 object metadata travels as HTTP headers, US-ASCII only (botocore refuses anything else):
    a name with other letters ('données-qa') is kept there percent-encoded ('donn%C3%A9es-qa'); the
    database keeps it as given. ASCII names, the usual case, are unchanged."""
    return quote(name, safe=" .:-_")


async def upload_dataset(
    session: AsyncSession,
    s3: Any,
    *,
    bucket: str,
    name: str,
    kind: DatasetKind,
    filename: str,
    stream: BinaryIO,
    max_upload_bytes: int,
    max_line_bytes: int,
    max_errors: int,
    principal: Principal,
) -> Dataset:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size > max_upload_bytes:
        raise PayloadTooLarge(f"file is {size} bytes, over the {max_upload_bytes}-byte upload limit")
    report = await asyncio.to_thread(
        validate_jsonl, stream, kind, max_line_bytes=max_line_bytes, max_errors=max_errors
    )
    if report.error_count:
        raise Unprocessable(
            {
                "message": f"{filename}: {report.error_count} invalid line(s); nothing was stored",
                "errors": [{"line": e.line, "error": e.error} for e in report.errors],
            }
        )
    if report.row_count == 0 or report.format is None:
        raise Unprocessable(f"{filename}: the file has no rows")

    key = f"{kind.value}/{uuid.uuid4().hex}/{report.sha256[:12]}.jsonl"
    stream.seek(0)
    await asyncio.to_thread(
        s3.put_object,
        Bucket=bucket,
        Key=key,
        Body=stream,
        ContentType="application/x-ndjson",
        Metadata={"sha256": report.sha256, "dataset-name": metadata_value(name)},
    )
    try:
        dataset = Dataset(
            name=name,
            kind=kind.value,
            format=report.format.value,
            s3_uri=f"s3://{bucket}/{key}",
            sha256=report.sha256,
            size_bytes=report.size_bytes,
            row_count=report.row_count,
            created_by=principal.name,
        )
        session.add(dataset)
        await session.commit()
    except BaseException:
        log.warning("dataset insert failed; removing s3://%s/%s", bucket, key)
        await asyncio.to_thread(s3.delete_object, Bucket=bucket, Key=key)
        raise
    return dataset


async def get_dataset(session: AsyncSession, dataset_id: int) -> Dataset:
    dataset = await session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


async def list_datasets(session: AsyncSession, kind: DatasetKind | None) -> Sequence[Dataset]:
    query = select(Dataset).order_by(Dataset.id.desc())
    if kind is not None:
        query = query.where(Dataset.kind == kind.value)
    return (await session.execute(query)).scalars().all()
