"""Roles and what each may do: the one permission table of the API (docs/decisions/0008-security.md)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    SERVICE = "service"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read runs and datasets"
    LAUNCH_RUN = "launch runs"
    UPLOAD_DATASET = "upload datasets"
    UPDATE_STATUS = "change run status"
    WRITE_RESULTS = "write run results"
    APPROVE = "approve or reject runs"
    REQUEST_APPROVAL = "register approval requests"
    MANAGE_KEYS = "manage API keys"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.LAUNCH_RUN, Permission.UPLOAD_DATASET}),
    # Approvers only approve: separation of duties between who launches and who releases.
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.SERVICE: frozenset(
        {Permission.READ, Permission.UPDATE_STATUS, Permission.WRITE_RESULTS, Permission.REQUEST_APPROVAL}
    ),
    Role.ADMIN: frozenset(Permission),
}


def roles_with(permission: Permission) -> list[Role]:
    return [role for role, perms in ROLE_PERMISSIONS.items() if permission in perms]
