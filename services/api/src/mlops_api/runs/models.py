from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mlops_api.db import Base, CreatedAtMixin
from mlops_contracts.status import RunStatus, TaskType


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


STATUS_VALUES = [s.value for s in RunStatus]


class PipelineRun(CreatedAtMixin, Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (
        CheckConstraint(_in("status", STATUS_VALUES), name="status"),
        CheckConstraint(_in("task_type", [t.value for t in TaskType]), name="task_type"),
        CheckConstraint("ml_score_threshold >= 0 AND ml_score_threshold <= 1", name="threshold"),
        Index("ix_pipeline_runs_status_id", "status", "id"),
        Index("ix_pipeline_runs_model_name_id", "model_name", "id"),
        Index("ix_pipeline_runs_experiment_name_id", "experiment_name", "id"),
        Index("ix_pipeline_runs_tags", "tags", postgresql_using="gin"),  # GET /runs?tag= (migration 0005)
        # POST /runs's Idempotency-Key: one run per key and caller (migration 0004)
        UniqueConstraint("created_by", "idempotency_key", name="uq_pipeline_runs_created_by_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(63), nullable=False)
    model_id: Mapped[str] = mapped_column(String(512), nullable=False)
    task_type: Mapped[str] = mapped_column(String(16), nullable=False)
    experiment_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    train_dataset_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("datasets.id", ondelete="RESTRICT"), nullable=True
    )
    eval_dataset_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("datasets.id", ondelete="RESTRICT"), nullable=False
    )
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    ml_score_threshold: Mapped[float] = mapped_column(Float, nullable=False)
    execution_arn: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # People's labels and note on the run (PATCH /runs/{id}); not part of what the workflow runs.
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # sha256 of the request body the key was first used with: another body is a conflict
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RunEvent(Base):
    """One step of a run's timeline. `event_id` makes redelivered events a no-op."""

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    previous_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    execution_arn: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class RunResult(CreatedAtMixin, Base):
    """A result summary of one stage of a run (training metrics, evaluation scores)."""

    __tablename__ = "run_results"
    __table_args__ = (
        UniqueConstraint("run_id", "stage", name="uq_run_results_run_id_stage"),
        CheckConstraint("stage IN ('training', 'evaluation')", name="stage"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
    )
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    ml_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
