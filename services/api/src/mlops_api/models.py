"""Every ORM model, imported so that `Base.metadata` is complete (for Alembic and checks)."""

from mlops_api.approvals.models import Approval, ApprovalAudit
from mlops_api.auth.models import ApiKey
from mlops_api.datasets.models import Dataset
from mlops_api.db import Base
from mlops_api.deployments.models import Deployment
from mlops_api.outbox.models import OutboxEvent
from mlops_api.runs.models import PipelineRun, RunEvent, RunResult

__all__ = [
    "ApiKey",
    "Approval",
    "ApprovalAudit",
    "Base",
    "Dataset",
    "Deployment",
    "OutboxEvent",
    "PipelineRun",
    "RunEvent",
    "RunResult",
]
