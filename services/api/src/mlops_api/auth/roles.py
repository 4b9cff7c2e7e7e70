"""Roles and what each may do: the one permission table of the API (docs/decisions/0008-security.md).

People hold viewer, operator, approver and admin keys. Each worker holds a key of its own role with
only what its handler calls (issue #23: one shared worker key could fake approvals):

- projector: applies the workflow's facts to the runs (status changes, timeline steps, the claim of a
  run by its execution) and is the only role that records the workflow's approval outcome;
- evaluator: writes the evaluation's results;
- approval-worker: registers the workflow's wait for a human decision;
- trainer: the training dispatcher (local backend) and the SageMaker completion handler, which record
  the training result (summary and loss history) when a job ends;
- deployer: the deployment worker, which reports a deployment's progress (in service, failed,
  rolled back) and reads a deployment's task (the record and the smoke test's questions).

The Teams formatter calls no API route and holds no key.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"
    PROJECTOR = "projector"
    EVALUATOR = "evaluator"
    APPROVAL_WORKER = "approval-worker"
    TRAINER = "trainer"
    DEPLOYER = "deployer"
    # Legacy: the one key all workers shared before each got its own. Kept so that keys made then
    # still authenticate; it may do what the three workers do except record an approval outcome.
    # Give each worker its own key instead (make dev and envs/prod do).
    SERVICE = "service"


class Permission(StrEnum):
    READ = "read runs and datasets"
    LAUNCH_RUN = "launch runs"
    CANCEL_RUN = "cancel runs"
    ANNOTATE_RUN = "tag and annotate runs"
    UPLOAD_DATASET = "upload datasets"
    UPDATE_STATUS = "change run status"
    RECORD_OUTCOME = "record the workflow's approval outcome (approved / rejected)"
    WRITE_RESULTS = "write run results"
    WRITE_TRAINING_RESULT = "write the training result of runs"
    APPROVE = "approve or reject runs"
    REQUEST_APPROVAL = "register approval requests"
    CLAIM_RUN = "claim runs for their workflow execution"
    MANAGE_KEYS = "manage API keys"
    DEPLOY = "deploy, roll back and retire approved models"
    UPDATE_DEPLOYMENT = "report a deployment's progress"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset(
        {
            Permission.READ,
            Permission.LAUNCH_RUN,
            Permission.UPLOAD_DATASET,
            Permission.CANCEL_RUN,
            Permission.ANNOTATE_RUN,
            Permission.DEPLOY,
        }
    ),
    # Approvers only approve (separation of duties between who launches and who releases), and may
    # stop a run they would not release.
    Role.APPROVER: frozenset(
        {Permission.READ, Permission.APPROVE, Permission.CANCEL_RUN, Permission.ANNOTATE_RUN}
    ),
    # Admins approve only where ADMIN_MAY_APPROVE is set (see `permissions_of`); the workers'
    # permissions belong to the workers' keys.
    Role.ADMIN: frozenset(
        {
            Permission.READ,
            Permission.LAUNCH_RUN,
            Permission.CANCEL_RUN,
            Permission.ANNOTATE_RUN,
            Permission.UPLOAD_DATASET,
            Permission.APPROVE,
            Permission.MANAGE_KEYS,
            Permission.DEPLOY,
        }
    ),
    Role.PROJECTOR: frozenset({Permission.UPDATE_STATUS, Permission.RECORD_OUTCOME, Permission.CLAIM_RUN}),
    Role.EVALUATOR: frozenset({Permission.WRITE_RESULTS}),
    Role.APPROVAL_WORKER: frozenset({Permission.REQUEST_APPROVAL}),
    Role.TRAINER: frozenset({Permission.WRITE_TRAINING_RESULT}),
    Role.DEPLOYER: frozenset({Permission.UPDATE_DEPLOYMENT}),
    Role.SERVICE: frozenset(
        {
            Permission.READ,
            Permission.UPDATE_STATUS,
            Permission.WRITE_RESULTS,
            Permission.REQUEST_APPROVAL,
            Permission.CLAIM_RUN,
        }
    ),
}


def permissions_of(role: Role, *, admin_may_approve: bool) -> frozenset[Permission]:
    """What `role` may do here: the table, less approving for admins unless ADMIN_MAY_APPROVE."""
    permissions = ROLE_PERMISSIONS[role]
    if role is Role.ADMIN and not admin_may_approve:
        return permissions - {Permission.APPROVE}
    return permissions


def roles_with(permission: Permission, *, admin_may_approve: bool) -> list[Role]:
    return [role for role in Role if permission in permissions_of(role, admin_may_approve=admin_may_approve)]
