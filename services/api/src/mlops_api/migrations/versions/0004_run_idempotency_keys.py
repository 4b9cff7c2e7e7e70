"""run idempotency keys: POST /runs with an `Idempotency-Key` header creates one run per key and
caller, however often it is retried (issue #22)

The key and a hash of the request body are columns of the run itself, under a unique constraint
on (created_by, idempotency_key): the insert's ON CONFLICT makes twenty concurrent retries one run
without a lock or a transaction. Keys live as long as their run, so they are kept (at least) 24 h.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pipeline_runs", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("pipeline_runs", sa.Column("request_hash", sa.String(64), nullable=True))
    # NULL keys never conflict: runs launched without the header are unaffected.
    op.create_unique_constraint(
        "uq_pipeline_runs_created_by_idempotency_key", "pipeline_runs", ["created_by", "idempotency_key"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_pipeline_runs_created_by_idempotency_key", "pipeline_runs", type_="unique")
    op.drop_column("pipeline_runs", "request_hash")
    op.drop_column("pipeline_runs", "idempotency_key")
