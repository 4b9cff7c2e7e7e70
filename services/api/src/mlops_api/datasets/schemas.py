from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from mlops_api.schemas import documented
from mlops_contracts.datasets import DatasetFormat, DatasetKind

_DOCS = documented(
    {
        "id": ("The dataset's id (train_dataset_id / eval_dataset_id of POST /runs)", 2),
        "name": ("A name for people", "platform-qa-eval"),
        "kind": ("train (QA or chat rows) or eval (RAGAS rows)", "eval"),
        "format": ("The rows' format, as validated", "ragas"),
        "s3_uri": ("Where it is stored", "s3://mlops-datasets/eval/3f1c9a52/platform-qa-eval.jsonl"),
        "sha256": ("The file's SHA-256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        "size_bytes": ("The file's size", 48213),
        "row_count": ("Lines (rows) in the file", 120),
        "created_by": ("The key or person that uploaded it", "operator-ci"),
        "created_at": ("When it was uploaded (RFC 3339)", "2026-12-07T04:00:00Z"),
        "items": ("The datasets, newest first", []),
    }
)


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=_DOCS)

    id: int
    name: str
    kind: DatasetKind
    format: DatasetFormat
    s3_uri: str
    sha256: str
    size_bytes: int
    row_count: int
    created_by: str
    created_at: datetime


class DatasetList(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    items: list[DatasetOut]
