"""deployments: which approved package version serves each model, and the deployer's role (issue #20)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = (
    "viewer",
    "operator",
    "approver",
    "admin",
    "projector",
    "evaluator",
    "approval-worker",
    "service",
    "trainer",
)
NEW_ROLES = (*OLD_ROLES, "deployer")
STATUSES = ("deploying", "in_service", "failed", "rolled_back", "retired")


def _role_check(roles: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.create_check_constraint(
        op.f("ck_api_keys_role"), "api_keys", f"role IN ({', '.join(repr(r) for r in roles)})"
    )


def upgrade() -> None:
    _role_check(NEW_ROLES)
    op.create_table(
        "deployments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("model_name", sa.String(length=63), nullable=False),
        sa.Column("model_package_arn", sa.String(length=2048), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("endpoint_name", sa.String(length=63), nullable=False),
        sa.Column("endpoint_url", sa.Text(), nullable=True),
        sa.Column("variant", sa.String(length=63), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in STATUSES)})", name=op.f("ck_deployments_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    op.create_index("ix_deployments_model_name_id", "deployments", ["model_name", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deployments_model_name_id", table_name="deployments")
    op.drop_table("deployments")
    op.execute("UPDATE api_keys SET revoked_at = now() WHERE role = 'deployer' AND revoked_at IS NULL")
    op.execute("UPDATE api_keys SET role = 'service' WHERE role = 'deployer'")
    _role_check(OLD_ROLES)
