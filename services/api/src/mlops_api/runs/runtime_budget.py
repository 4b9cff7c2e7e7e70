"""POST /runs refuses a run longer than the release workflow can wait for: the execution times out
after 7 days (terraform/templates/release_workflow.asl.json), which must hold the claim, the
evaluation, the approval and the deployment waits as well as the training wait, twice the run time
(a Spot job may wait that long for capacity) plus a margin. A longer run would be accepted, then
killed by the workflow's own timeout days later, with nothing on it to say why.

Terraform computes the bound from the workflow's timeouts (modules/platform_core,
`max_training_runtime_seconds`) and gives it to the API (MAX_TRAINING_RUNTIME_SECONDS). The schema's
own `le` (5 days) stays the absolute cap; the published OpenAPI document gives the bound as the
field's maximum, so the dashboard's form offers no more and generated clients know it
(docs/decisions/0007-fail-closed.md: refused at the door, not failed later).
"""

from __future__ import annotations

from typing import Any

from mlops_api.errors import Unprocessable

FIELD = "max_runtime_seconds"
LOCATION = ["body", "hyperparameters", FIELD]


def why(limit: int) -> str:
    return (
        f"at most {limit} seconds ({limit / 3600:.1f} h) on this platform: the release workflow times "
        "out after 7 days, which must also hold the waits for the run's claim, evaluation, approval "
        "and deployment, and its training wait is twice the run time (a Spot job may wait as long "
        "for capacity) plus a margin"
    )


def require_within(max_runtime_seconds: int, limit: int) -> None:
    """A 422 in the shape of a validation error, naming the field, the limit and why."""
    if max_runtime_seconds > limit:
        raise Unprocessable(
            [
                {
                    "loc": LOCATION,
                    "msg": f"{FIELD} must be {why(limit)} (got {max_runtime_seconds})",
                    "type": "less_than_equal",
                }
            ]
        )


def publish(schema: dict[str, Any], limit: int) -> dict[str, Any]:
    """The OpenAPI document with the bound as max_runtime_seconds' maximum (the lower of it and
    the schema's own cap), and the reason in its description."""
    field = schema.get("components", {}).get("schemas", {}).get("Hyperparameters", {}).get("properties", {})
    spec = field.get(FIELD)
    if spec is not None:
        spec["maximum"] = min(int(spec.get("maximum", limit)), limit)
        spec["description"] = (
            f"{spec.get('description', 'The training job is stopped after this')}; {why(limit)}"
        )
    return schema
