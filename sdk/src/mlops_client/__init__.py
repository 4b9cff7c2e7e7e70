"""The MLOps platform's Python SDK: `Client` (sync), `AsyncClient`, typed models, errors.
The command line `mlops` (mlops_client.cli) is built on it."""

from mlops_client.aio import AsyncClient
from mlops_client.client import Client
from mlops_client.errors import (
    ApiError,
    ConfigurationError,
    DatasetInvalid,
    DeploymentConflict,
    DeploymentFailed,
    DeploymentWaitTimeout,
    RunEnded,
    RunFailed,
    RunRejected,
    WaitTimeout,
)
from mlops_client.models import (
    Approval,
    Dataset,
    Deployment,
    DeploymentList,
    DeploymentStatus,
    EvalOnlyLaunch,
    FinetuneLaunch,
    Hyperparameters,
    Invocation,
    ModelGroup,
    Run,
    RunDetail,
    RunStatus,
)

__all__ = [
    "ApiError",
    "Approval",
    "AsyncClient",
    "Client",
    "ConfigurationError",
    "Dataset",
    "DatasetInvalid",
    "Deployment",
    "DeploymentConflict",
    "DeploymentFailed",
    "DeploymentList",
    "DeploymentStatus",
    "DeploymentWaitTimeout",
    "EvalOnlyLaunch",
    "FinetuneLaunch",
    "Hyperparameters",
    "Invocation",
    "ModelGroup",
    "Run",
    "RunDetail",
    "RunEnded",
    "RunFailed",
    "RunRejected",
    "RunStatus",
    "WaitTimeout",
]
