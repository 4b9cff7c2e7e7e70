"""What the SDK raises. `ApiError` is the platform client's own (mlops_contracts.api_client): an
answer of 400 or more, or no answer (status 0) once the retries are spent."""

from __future__ import annotations

from mlops_client.models import Deployment, RunDetail
from mlops_contracts.api_client import ApiError, LineError

__all__ = [
    "ApiError",
    "ConfigurationError",
    "DatasetInvalid",
    "DeploymentConflict",
    "DeploymentFailed",
    "DeploymentWaitTimeout",
    "RunFailed",
    "RunRejected",
    "WaitTimeout",
]


class ConfigurationError(RuntimeError):
    """The client cannot be built: the API's URL or key is missing."""


class DatasetInvalid(ApiError):
    """The API refused a dataset upload; `line_errors` says which lines and why."""

    def __init__(self, error: ApiError, path: str) -> None:
        lines = "; ".join(f"line {e.line}: {e.error}" for e in error.line_errors)
        super().__init__(
            error.status_code,
            f"{path}: {error.message}" + (f" ({lines})" if lines else ""),
            detail=error.detail,
            line_errors=error.line_errors,
        )

    @property
    def lines(self) -> list[int]:
        return [e.line for e in self.line_errors]


class DeploymentConflict(ApiError):
    """The API refused a deployment request (409): the version is not Approved in the registry (or
    the model has no approved version), another deployment of the model is still deploying, or the
    deployment is not in service (to retire or to invoke). The message is the API's reason."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.status_code, error.message, detail=error.detail)


class DeploymentFailed(Exception):
    """The deployment ended without serving: failed, rolled back (the previous deployment serves
    again) or retired; `deployment` is how it ended."""

    def __init__(self, deployment: Deployment) -> None:
        reason = f": {deployment.reason}" if deployment.reason else ""
        super().__init__(
            f"deployment {deployment.id} of {deployment.model_name} v{deployment.version} "
            f"{deployment.status.value}{reason}"
        )
        self.deployment = deployment


class DeploymentWaitTimeout(TimeoutError):
    """The deployment was not in service within the wait's timeout; `deployment` is where it stood."""

    def __init__(self, deployment: Deployment, timeout: float) -> None:
        super().__init__(
            f"deployment {deployment.id} is still '{deployment.status.value}' after {timeout:g} s"
        )
        self.deployment = deployment


class RunEnded(Exception):
    """The run ended without passing; `run` is how it ended."""

    def __init__(self, run: RunDetail) -> None:
        reason = f": {run.status_reason}" if run.status_reason else ""
        super().__init__(f"run {run.id} {run.status.value}{reason}")
        self.run = run


class RunFailed(RunEnded):
    """The run failed or was cancelled."""


class RunRejected(RunEnded):
    """The run was rejected: below its MLScore threshold, by a person, or its approval timed out."""


class WaitTimeout(TimeoutError):
    """The run did not settle within the wait's timeout; `run` is where it stood."""

    def __init__(self, run: RunDetail, timeout: float) -> None:
        super().__init__(f"run {run.id} is still '{run.status.value}' after {timeout:g} s")
        self.run = run


__all__ += ["LineError", "RunEnded"]
