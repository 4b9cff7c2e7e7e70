"""The endpoints as data, shared by the sync and the async client: each function returns what to
send (method, path, httpx keyword arguments); the clients send it through the one HTTP client and
parse the answer with the models. Keeping the two clients thin keeps them the same."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from mlops_client.errors import RunFailed, RunRejected
from mlops_client.models import LaunchRequest, RunDetail, RunStatus

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


def samples_frame(items: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame when pandas is installed (`mlops-client[pandas]`), else the rows."""
    try:
        import pandas as pd
    except ImportError:
        return items
    return pd.DataFrame(items)
