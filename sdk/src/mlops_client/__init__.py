"""The MLOps platform's Python SDK: `Client` (sync), `AsyncClient`, typed models, errors.
The command line `mlops` (mlops_client.cli) is built on it."""

from mlops_client.aio import AsyncClient
from mlops_client.client import Client
from mlops_client.errors import (
    ApiError,
    ConfigurationError,
    DatasetInvalid,
    RunEnded,
    RunFailed,
    RunRejected,
    WaitTimeout,
)
from mlops_client.models import (
    Approval,
    Dataset,
    EvalOnlyLaunch,
    FinetuneLaunch,
    Hyperparameters,
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
    "EvalOnlyLaunch",
    "FinetuneLaunch",
    "Hyperparameters",
    "ModelGroup",
    "Run",
    "RunDetail",
    "RunEnded",
    "RunFailed",
    "RunRejected",
    "RunStatus",
    "WaitTimeout",
]
