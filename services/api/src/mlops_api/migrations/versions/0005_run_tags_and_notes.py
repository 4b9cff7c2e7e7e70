"""run tags and notes: people label runs (`baseline`, `candidate`) and write a note on them; the
runs list filters by tag (issue #22)

Tags are a text array on the run, searched with `@>` through a GIN index; the note is free text.
Each change is a `run.annotated` step of the run's timeline (who, when, what), its audit record.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pipeline_runs",
        sa.Column(
            "tags", postgresql.ARRAY(sa.String(40)), nullable=False, server_default=sa.text("'{}'::varchar[]")
        ),
    )
    op.add_column("pipeline_runs", sa.Column("note", sa.Text(), nullable=True))
    op.create_index("ix_pipeline_runs_tags", "pipeline_runs", ["tags"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_pipeline_runs_tags", table_name="pipeline_runs")
    op.drop_column("pipeline_runs", "note")
    op.drop_column("pipeline_runs", "tags")
