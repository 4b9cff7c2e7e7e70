"""The endpoints as data, shared by the sync and the async client: each function returns what to
send (method, path, httpx keyword arguments); the clients send it through the one HTTP client and
parse the answer with the models. Keeping the two clients thin keeps them the same."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from pydantic import TypeAdapter

from mlops_client.errors import ApiError, DeploymentConflict, DeploymentFailed, RunFailed, RunRejected
from mlops_client.models import Deployment, DeploymentStatus, LaunchRequest, RunDetail, RunStatus

_LAUNCH: TypeAdapter[Any] = TypeAdapter(LaunchRequest)

# where `runs.wait` stops: the run settled, or (unless it waits for the decision) needs a person
SETTLED = frozenset({RunStatus.APPROVED, RunStatus.REJECTED, RunStatus.FAILED, RunStatus.CANCELLED})
FOR_REVIEW = SETTLED | {RunStatus.AWAITING_APPROVAL}


class Call(NamedTuple):
    method: str
    path: str
    kwargs: dict[str, Any]


def launch(request: Any, fields: dict[str, Any], idempotency_key: str | None) -> Call:
    """POST /runs. A request model, or its fields (task_type defaults to finetune when a train
    dataset is named, else eval_only). The key is made here, once per launch: the client's retries
    resend it, so a retried launch is one run."""
    if request is None:
        fields = dict(fields)
        fields.setdefault("task_type", "finetune" if fields.get("train_dataset_id") else "eval_only")
        request = _LAUNCH.validate_python(fields)
    elif fields:
        raise TypeError("pass a launch request or its fields, not both")
    key = idempotency_key or str(uuid.uuid4())
    return Call("POST", "/runs", {"json": request.body(), "headers": {"Idempotency-Key": key}})


def list_params(
    status: str | list[str] | None, model_name: str | None, experiment_name: str | None, page_size: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": page_size}
    if status:
        params["status"] = [status] if isinstance(status, str) else list(status)
    if model_name:
        params["model_name"] = model_name
    if experiment_name:
        params["experiment_name"] = experiment_name
    return params


def upload(path: str | Path, name: str | None, kind: str) -> Call:
    file = Path(path)
    content = file.read_bytes()
    return Call(
        "POST",
        "/datasets",
        {
            "data": {"name": name or file.stem, "kind": kind},
            "files": {"file": (file.name, content, "application/x-ndjson")},
            "timeout": 600.0,
        },
    )


def settled(run: RunDetail, wait_for_decision: bool) -> bool:
    """True when `runs.wait` is done with the run; raises for a run that ended without passing."""
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise RunFailed(run)
    if run.status is RunStatus.REJECTED:
        raise RunRejected(run)
    return run.status in (SETTLED if wait_for_decision else FOR_REVIEW)


def deployments_of(model_name: str, limit: int) -> Call:
    return Call("GET", f"/models/{quote(model_name, safe='')}/deployments", {"params": {"limit": limit}})


def deploy(model_name: str, version: int | None, reason: str | None) -> Call:
    """POST /deployments. The API takes no Idempotency-Key here: a retry after a lost answer is
    refused (409, "still deploying") rather than made twice."""
    body: dict[str, Any] = {"model_name": model_name}
    if version is not None:
        body["version"] = version
    if reason is not None:
        body["reason"] = reason
    return Call("POST", "/deployments", {"json": body})


# The API waits up to 60 s for the endpoint (mlops_api.deployments.invoker): the call's own timeout.
INVOKE_TIMEOUT = 90.0


def invoke(
    deployment_id: int,
    question: str,
    contexts: Sequence[str] | None,
    max_new_tokens: int | None,
    timeout: float,
) -> Call:
    body: dict[str, Any] = {"question": question, "contexts": list(contexts or [])}
    if max_new_tokens is not None:
        body["max_new_tokens"] = max_new_tokens
    return Call("POST", f"/deployments/{deployment_id}/invoke", {"json": body, "timeout": timeout})


def deployment_error(exc: ApiError) -> ApiError:
    """A 409 of the deployment routes as `DeploymentConflict` (not approved, still deploying, not in
    service); any other error as it is."""
    return DeploymentConflict(exc) if exc.status_code == 409 else exc


def in_service(deployment: Deployment) -> bool:
    """True when `deployments.wait` is done; raises for a deployment that ended without serving."""
    if deployment.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK, DeploymentStatus.RETIRED):
        raise DeploymentFailed(deployment)
    return deployment.status is DeploymentStatus.IN_SERVICE


def samples_frame(items: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame when pandas is installed (`mlops-client[pandas]`), else the rows."""
    try:
        import pandas as pd
    except ImportError:
        return items
    return pd.DataFrame(items)
