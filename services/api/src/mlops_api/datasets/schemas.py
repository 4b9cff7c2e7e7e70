from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from mlops_contracts.datasets import DatasetFormat, DatasetKind


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    items: list[DatasetOut]
