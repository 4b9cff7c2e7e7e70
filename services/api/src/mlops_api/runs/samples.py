"""The per-sample rows of a run's evaluation: the evaluation worker writes them to S3 as JSONL and
records their URI in the evaluation result (`metrics.samples_uri`); the API reads them back for
clients that do not reach S3 (the dashboard)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from mlops_api.errors import NotFound, Unavailable
from mlops_api.runs.field_docs import fill
from mlops_contracts.aws import aws_client

log = logging.getLogger(__name__)

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")


class SamplesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=fill)

    samples_uri: str
    total: int = Field(description="Rows in the file")
    truncated: bool = Field(description="True when only the first `limit` rows are returned")
    items: list[dict[str, Any]] = Field(
        description="index, question, contexts, ground_truth, answer, one field per metric, scored, "
        "error, seconds"
    )


def _read(uri: str, region: str) -> bytes:
    match = _S3_URI.match(uri)
    if match is None:
        raise NotFound(f"the evaluation's samples are not in S3 ({uri})")
    s3 = aws_client("s3", region=region, max_attempts=3)
    try:
        body: bytes = s3.get_object(Bucket=match["bucket"], Key=match["key"])["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise NotFound(f"the evaluation's samples file is gone ({uri})") from exc
        log.warning("S3 refused the samples of %s: %s", uri, code)
        raise Unavailable(f"the samples cannot be read now ({code})") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"S3 is unreachable ({type(exc).__name__})") from exc
    return body


def parse(body: bytes, limit: int) -> tuple[int, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    total = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        total += 1
        if len(rows) < limit:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a damaged line: skipped, the rest stays readable
            if isinstance(row, dict):
                rows.append(row)
    return total, rows


async def samples(metrics: dict[str, Any] | None, *, region: str, limit: int) -> SamplesOut:
    uri = (metrics or {}).get("samples_uri")
    if not isinstance(uri, str) or not uri:
        raise NotFound("this run has no per-sample evaluation results")
    total, rows = parse(await asyncio.to_thread(_read, uri, region), limit)
    return SamplesOut(samples_uri=uri, total=total, truncated=total > len(rows), items=rows)
