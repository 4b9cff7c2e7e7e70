"""The release workflow has an overall timeout: the specification's 7 days (issue #18). Without it an
execution whose task never answers waits forever (a Step Functions execution may run a year).

Its stages' waits must fit inside it: Terraform computes the longest training run they leave
(modules/platform_core, `max_training_runtime_seconds`), the API refuses a longer one
(MAX_TRAINING_RUNTIME_SECONDS), and this checks that number against the template's own timeouts,
rendered with the values envs/prod's plan gives them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_api.config import Settings
from mlops_api.runs.schemas import Hyperparameters

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"
COMPUTE = ROOT / "terraform" / "envs" / "prod" / "compute.tf"
SEVEN_DAYS = 7 * 24 * 3600
ProdPlan = Any  # conftest.ProdPlan

# platform_core's `workflow_timeouts` keys -> the template variables it passes them as
TEMPLATE_VARIABLES = {
    "workflow": "workflow_timeout_seconds",
    "claim": "claim_timeout_seconds",
    "training_margin": "training_timeout_margin_seconds",
    "evaluation": "evaluation_timeout_seconds",
    "approval": "approval_timeout_seconds",
    "deploy": "deploy_timeout_seconds",
}


@pytest.fixture(scope="module")
def timeouts(prod_plan: ProdPlan) -> dict[str, int]:
    """envs/prod's `release_workflow_timeouts` output, as planned with the default variables."""
    value = prod_plan.plan["planned_values"]["outputs"]["release_workflow_timeouts"]["value"]
    return {key: int(seconds) for key, seconds in value.items()}


@pytest.fixture(scope="module")
def definition(timeouts: dict[str, int]) -> dict[str, Any]:
    """The template rendered with the plan's timeouts (every other variable 0)."""
    values = {TEMPLATE_VARIABLES[key]: timeouts[key] for key in TEMPLATE_VARIABLES}
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(values.get(m.group(1), 0)), TEMPLATE.read_text())
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        if "Iterator" in state or "ItemProcessor" in state:
            yield from states(state.get("ItemProcessor") or state["Iterator"])


def test_the_workflow_times_out_after_seven_days(definition: dict[str, Any]) -> None:
    assert definition["TimeoutSeconds"] == SEVEN_DAYS


def test_no_fixed_state_timeout_outlasts_the_workflow(definition: dict[str, Any]) -> None:
    fixed = {
        name: s["TimeoutSeconds"]
        for name, s in states(definition)
        if isinstance(s.get("TimeoutSeconds"), int)
    }
    assert fixed  # the template has fixed timeouts to compare
    assert {name: seconds for name, seconds in fixed.items() if seconds >= SEVEN_DAYS} == {}


def claim_wait(claim: dict[str, Any]) -> int:
    """The longest a claim that is answered in the end can take: every try times out but the last."""
    [retry] = [r for r in claim["Retry"] if "States.Timeout" in r["ErrorEquals"]]
    pauses = sum(retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(retry["MaxAttempts"]))
    return int(claim["TimeoutSeconds"] * (retry["MaxAttempts"] + 1) + pauses)


def training_margin(init: dict[str, Any]) -> int:
    """The training wait is twice the run's max_runtime_seconds plus this margin (the Init state)."""
    runtime = r"\$\.detail\.data\.hyperparameters\.max_runtime_seconds"
    twice_plus = rf"^States\.MathAdd\(States\.MathAdd\({runtime}, {runtime}\), (\d+)\)$"
    found = re.match(twice_plus, init["Parameters"]["training_timeout_seconds.$"])
    assert found, "the training wait is no longer twice the run time plus a margin: change the budget"
    return int(found.group(1))


def test_the_training_budget_is_what_the_templates_timeouts_leave(
    definition: dict[str, Any], timeouts: dict[str, int]
) -> None:
    by_name = dict(states(definition))
    assert by_name["StartTraining"]["TimeoutSecondsPath"] == "$.training_timeout_seconds"
    waits = (
        claim_wait(by_name["ClaimRun"])
        + by_name["StartEvaluation"]["TimeoutSeconds"]
        + by_name["WaitForHumanApproval"]["TimeoutSeconds"]
        + by_name["Deploy"]["TimeoutSeconds"]
        + training_margin(by_name["Init"])
    )
    budget = (definition["TimeoutSeconds"] - waits) // 2
    assert timeouts["max_training_runtime_seconds"] == budget
    # the default run fits, and a bare API (no MAX_TRAINING_RUNTIME_SECONDS) bounds runs as the
    # default estate does
    assert Hyperparameters().max_runtime_seconds <= budget
    assert Settings.model_fields["max_training_runtime_seconds"].default == budget


def test_the_api_gets_the_budget() -> None:
    assignment = re.search(r"^\s+MAX_TRAINING_RUNTIME_SECONDS\s+=\s+(.+)$", COMPUTE.read_text(), re.M)
    assert assignment, "envs/prod does not give the API MAX_TRAINING_RUNTIME_SECONDS"
    assert assignment.group(1) == "tostring(module.platform_core.max_training_runtime_seconds)"
