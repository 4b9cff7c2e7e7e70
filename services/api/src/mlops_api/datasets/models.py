from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlops_api.db import Base, CreatedAtMixin
from mlops_contracts.datasets import DatasetFormat, DatasetKind

__all__ = ["Dataset", "DatasetFormat", "DatasetKind"]


class Dataset(CreatedAtMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint("kind IN ('train', 'eval')", name="kind"),
        CheckConstraint("format IN ('qa', 'chat', 'ragas')", name="format"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    s3_uri: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
