from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mlops_api.db import Base


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # the workflow's wait timed out: a rejection (docs/decisions/0007-fail-closed.md)
    CLOSED = "closed"  # the run ended otherwise (failed, cancelled, superseded by a new request)


class Via(StrEnum):
    """How a decision (or a request) reached the platform."""

    LINK = "link"
    API = "api"
    DASHBOARD = "dashboard"
    TIMEOUT = "timeout"
    WORKFLOW = "workflow"


class AuditAction(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    CLOSED = "closed"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Approval(Base):
    """One wait of the release workflow for a human decision. The task token never leaves the
    server: no response model has it, and it is erased once the wait is over."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(_in("status", ApprovalStatus), name="status"),
        CheckConstraint(_in("decision_via", Via), name="decision_via"),
        CheckConstraint("timeout_seconds > 0", name="timeout_seconds"),
        Index("ix_approvals_run_id_id", "run_id", "id"),
        # at most one open wait per run
        Index(
            "uq_approvals_pending_run_id",
            "run_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_runs.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    task_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    task_token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    link_nonce: Mapped[str] = mapped_column(String(32), nullable=False)
    execution_arn: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_package_arn: Mapped[str | None] = mapped_column(Text, nullable=True)
    ml_score: Mapped[float] = mapped_column(Float, nullable=False)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    ml_score_threshold: Mapped[float] = mapped_column(Float, nullable=False)
    timeout_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decision_via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class ApprovalAudit(Base):
    """The audit trail: one row per thing that happened to an approval. Append-only: a trigger
    (migration 0002) refuses UPDATE and DELETE."""

    __tablename__ = "approval_audit"
    __table_args__ = (
        CheckConstraint(_in("action", AuditAction), name="action"),
        CheckConstraint(_in("via", Via), name="via"),
        Index("ix_approval_audit_run_id_id", "run_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_runs.id", ondelete="RESTRICT"), nullable=False
    )
    approval_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("approvals.id", ondelete="RESTRICT"), nullable=False
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    via: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    ml_score: Mapped[float] = mapped_column(Float, nullable=False)
    ml_score_threshold: Mapped[float] = mapped_column(Float, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
