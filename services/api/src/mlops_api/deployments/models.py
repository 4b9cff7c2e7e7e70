from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from mlops_api.db import Base, CreatedAtMixin


class DeploymentStatus(StrEnum):
    DEPLOYING = "deploying"
    IN_SERVICE = "in_service"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"


ENDED = frozenset({DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK, DeploymentStatus.RETIRED})

# What the deployer may report from each status. A deployment in service may still be rolled back
# (the release's smoke test ran after InService) and is retired when another one replaces it.
TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.DEPLOYING: frozenset(
        {DeploymentStatus.IN_SERVICE, DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK}
    ),
    DeploymentStatus.IN_SERVICE: frozenset(
        {DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED, DeploymentStatus.RETIRED}
    ),
    DeploymentStatus.FAILED: frozenset(),
    DeploymentStatus.ROLLED_BACK: frozenset(),
    DeploymentStatus.RETIRED: frozenset(),
}


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Deployment(CreatedAtMixin, Base):
    """One deployment of a registry package version to a model's endpoint (migration 0007)."""

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(_in("status", DeploymentStatus), name="status"),
        Index("ix_deployments_model_name_id", "model_name", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(63), nullable=False)  # the package group
    model_package_arn: Mapped[str] = mapped_column(String(2048), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    endpoint_name: Mapped[str] = mapped_column(String(63), nullable=False)
    endpoint_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    variant: Mapped[str | None] = mapped_column(String(63), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    # "release" (the workflow deployed it after the approval) or "api" (POST /deployments)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
