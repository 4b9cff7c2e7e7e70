"""trainer role: the training dispatcher and the SageMaker completion handler record the training
result with a key of their own (issue #17.4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
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
)
NEW_ROLES = (*OLD_ROLES, "trainer")


def _role_check(roles: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.create_check_constraint(
        op.f("ck_api_keys_role"), "api_keys", f"role IN ({', '.join(repr(r) for r in roles)})"
    )


def upgrade() -> None:
    _role_check(NEW_ROLES)


def downgrade() -> None:
    op.execute("UPDATE api_keys SET revoked_at = now() WHERE role = 'trainer' AND revoked_at IS NULL")
    op.execute("UPDATE api_keys SET role = 'service' WHERE role = 'trainer'")
    _role_check(OLD_ROLES)
