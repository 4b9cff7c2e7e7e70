"""Approval requests and notifications.

- `mlops_approval.handler.handler`: the approval queue's consumer (a Lambda in production, the local
  runner here). Registers the workflow's wait with the API (the task token stays server-side) and
  publishes an `approval_requested` notification with the signed approve/reject links.
- `mlops_approval.teams.handler`: the notifications formatter, subscribed to the SNS topic through an
  SQS queue. Turns every notification (approval_requested, auto_rejected, approved, rejected, failed)
  into a Teams Adaptive Card posted to the webhook kept in Secrets Manager.
"""
