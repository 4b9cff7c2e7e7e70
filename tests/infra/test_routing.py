"""Routing on the Terraform-provisioned emulator: for each rule of terraform/routing.json, the events it
should match reach its targets (SQS, the state machine, SNS through the subscribed notifications
queue) and the others do not. DLQ redrive after maxReceiveCount receives."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops_testkit.servers import ProvisionedStack

ROOT = Path(__file__).resolve().parents[2]
RULES: dict[str, Any] = json.loads((ROOT / "terraform" / "routing.json").read_text())["rules"]
RELEASE, PROJECTOR = ("mlops-run-created-release", "mlops-workflow-facts-projector")
PROGRESS = "mlops-training-progress-projector"
DEPLOY, RETIRED = ("mlops-deployment-requested-release", "mlops-deployment-retired-deployer")

# (source, detail-type) -> the rules that must match it; every other rule must not.
CASES: list[tuple[str, str, set[str]]] = [
    ("mlops.api", "run.created", {RELEASE}),
    ("mlops.api", "run.status_changed", set()),
    ("mlops.api", "run.eval_passed", set()),  # the API's own events never reach the projector
    ("mlops.api", "run.cancelled", set()),
    # POST /deployments starts the workflow's deploy-only mode; a retired deployment reaches the deployer
    ("mlops.api", "deployment.requested", {DEPLOY}),
    ("mlops.api", "deployment.status_changed", {RETIRED}),  # _put: status retired
    ("mlops.workflow", "deployment.requested", set()),
    ("mlops.other", "run.created", set()),
    ("mlops.workflow", "run.workflow_started", {PROJECTOR}),
    ("mlops.workflow", "run.training_started", {PROJECTOR}),
    ("mlops.workflow", "run.training_done", {PROJECTOR}),
    ("mlops.workflow", "run.evaluation_started", {PROJECTOR}),
    ("mlops.workflow", "run.approval_requested", {PROJECTOR}),
    ("mlops.workflow", "run.eval_passed", {PROJECTOR}),
    ("mlops.workflow", "run.eval_rejected", {PROJECTOR}),
    ("mlops.workflow", "run.approved", {PROJECTOR}),
    ("mlops.workflow", "run.rejected", {PROJECTOR}),
    ("mlops.workflow", "run.training_failed", {PROJECTOR}),
    ("mlops.workflow", "run.evaluation_failed", {PROJECTOR}),
    ("mlops.workflow", "run.failed", {PROJECTOR}),
    ("mlops.workflow", "model.registered", set()),  # not a run fact: no `run.` prefix
    ("mlops.training", "run.training_progress", {PROGRESS}),
    # the training job (user model code runs in it) can change no status through the projector
    ("mlops.training", "run.approved", set()),
    ("mlops.training", "run.training_done", set()),
]


def test_every_rule_has_cases() -> None:
    covered = set().union(*(rules for _, _, rules in CASES))
    assert covered == set(RULES), "add CASES for the new or renamed rules of routing.json"


def _target_destinations(rules: set[str]) -> set[tuple[str, str]]:
    return {(t["type"], t["name"]) for rule in rules for t in RULES[rule]["targets"]}


def _drain(stack: ProvisionedStack, queue_url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    bodies: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    ):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _put(stack: ProvisionedStack, source: str, detail_type: str, run_id: int) -> str:
    detail = {
        "run_id": run_id,
        "payload": {
            "model_name": "tiny",
            "model_id": "local/tiny",
            "task_type": "eval_only",
            "experiment_name": "routing",
        },
        # what the API's run.created carries for the workflow
        "data": {
            "train_dataset_uri": None,
            "eval_dataset_uri": "s3://datasets/eval/routing.jsonl",
            "ml_score_threshold": 0.7,
            "hyperparameters": {"max_runtime_seconds": 600},
        },
    }
    if detail_type == "deployment.status_changed":
        detail["status"] = "retired"
    answer = stack.client("events").put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": stack.env["EVENT_BUS_NAME"],
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0, answer
    return str(answer["Entries"][0]["EventId"])


def _arrivals(stack: ProvisionedStack, event_id: str, run_id: int) -> set[tuple[str, str]]:
    """Where the event went. EventBridge delivers during PutEvents in the emulator, so this is final."""
    arrived: set[tuple[str, str]] = set()
    if any(b.get("id") == event_id for b in _drain(stack, stack.env["RUN_EVENTS_QUEUE_URL"])):
        arrived.add(("queue", "run_events"))
    if any(b.get("id") == event_id for b in _drain(stack, stack.env["NOTIFICATIONS_QUEUE_URL"])):
        arrived.add(("topic", "notifications"))  # the topic's subscription feeds that queue
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=stack.env["STATE_MACHINE_ARN"])
    if any(e["name"] == f"run-{run_id}-{event_id}" for e in executions["executions"]):
        arrived.add(("state_machine", "release"))
    for key in ("CLAIMS", "TRAINING", "EVALUATION", "APPROVAL", "DEPLOYMENTS"):
        # only the event itself counts: the workflow it may start sends tasks of its own there
        if any(b.get("id") == event_id for b in _drain(stack, stack.env[f"{key}_QUEUE_URL"])):
            arrived.add(("queue", key.lower()))
    return arrived


@pytest.mark.parametrize(("source", "detail_type", "rules"), CASES, ids=[f"{s}:{d}" for s, d, _ in CASES])
def test_event_reaches_exactly_the_targets_of_its_rules(
    local_stack: ProvisionedStack, source: str, detail_type: str, rules: set[str]
) -> None:
    run_id = uuid.uuid4().int % 10**9
    event_id = _put(local_stack, source, detail_type, run_id)
    assert _arrivals(local_stack, event_id, run_id) == _target_destinations(rules)
    assert not _drain(local_stack, local_stack.env["EVENTS_DELIVERY_DLQ_URL"])


def test_run_created_starts_the_workflow_whose_facts_reach_the_projector(
    local_stack: ProvisionedStack,
) -> None:
    """An eval_only run: the workflow claims the run (answered here as the claim handler would),
    registers the base model, tells the projector the evaluation started, and waits on the evaluation
    queue with a task token."""
    sfn = local_stack.client("stepfunctions")
    run_id = uuid.uuid4().int % 10**9
    event_id = _put(local_stack, "mlops.api", "run.created", run_id)
    execution_arn = f"{local_stack.env['STATE_MACHINE_ARN'].replace(':stateMachine:', ':execution:')}:run-{run_id}-{event_id}"
    deadline = time.monotonic() + 15
    facts: list[dict[str, Any]] = []
    task: dict[str, Any] | None = None
    claim: dict[str, Any] | None = None
    while time.monotonic() < deadline and (not facts or task is None):
        for body in _drain(local_stack, local_stack.env["CLAIMS_QUEUE_URL"]):
            if body.get("run_id") == run_id:
                claim = body
                sfn.send_task_success(taskToken=body["task_token"], output=json.dumps({"claimed": True}))
        facts += [
            b
            for b in _drain(local_stack, local_stack.env["RUN_EVENTS_QUEUE_URL"])
            if b.get("detail", {}).get("run_id") == run_id
        ]
        for body in _drain(local_stack, local_stack.env["EVALUATION_QUEUE_URL"]):
            if body.get("run_id") == run_id:
                task = body
        time.sleep(0.2)
    try:
        assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        assert claim is not None
        assert claim["execution_arn"] == execution_arn
        [fact] = facts
        assert fact["source"] == "mlops.workflow"
        assert fact["detail-type"] == "run.evaluation_started"
        assert fact["detail"]["execution_arn"] == execution_arn
        assert fact["detail"]["payload"]["task_type"] == "eval_only"
        assert task is not None
        assert task["task_token"]
        assert task["eval_dataset_uri"] == "s3://datasets/eval/routing.jsonl"
        assert task["artifact_uri"] is None  # eval_only evaluates the base model
    finally:
        sfn.stop_execution(executionArn=execution_arn)


@pytest.mark.parametrize(
    "key", ["CLAIMS", "TRAINING", "EVALUATION", "APPROVAL", "RUN_EVENTS", "NOTIFICATIONS"]
)
def test_a_message_received_three_times_moves_to_the_dlq(local_stack: ProvisionedStack, key: str) -> None:
    sqs = local_stack.client("sqs")
    queue, dlq = local_stack.env[f"{key}_QUEUE_URL"], local_stack.env[f"{key}_DLQ_URL"]
    _drain(local_stack, queue)
    body = json.dumps({"poison": uuid.uuid4().hex})
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    for attempt in range(1, 4):  # three failed receives: never deleted, visible again at once
        [message] = sqs.receive_message(
            QueueUrl=queue, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"]
        )["Messages"]
        assert message["Body"] == body
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt)
    assert sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages", []) == []
    parked = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in parked] == [body]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked[0]["ReceiptHandle"])
