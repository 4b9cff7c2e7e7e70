"""worker roles: each worker its own key role (projector, evaluator, approval-worker) besides the
legacy shared `service` role (issue #23)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = ("viewer", "operator", "approver", "service", "admin")
NEW_ROLES = (
    "viewer",
    "operator",
    "approver",
    "admin",
    "projector",
    "evaluator",
    "approval-worker",
    "service",
)


def _role_check(roles: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.create_check_constraint(
        op.f("ck_api_keys_role"), "api_keys", f"role IN ({', '.join(repr(r) for r in roles)})"
    )


def upgrade() -> None:
    _role_check(NEW_ROLES)


def downgrade() -> None:
    op.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE role IN ('projector', 'evaluator', 'approval-worker') "
        "AND revoked_at IS NULL"
    )
    op.execute(
        "UPDATE api_keys SET role = 'service' WHERE role IN ('projector', 'evaluator', 'approval-worker')"
    )
    _role_check(OLD_ROLES)
