"""A training job AWS refuses fails the run in seconds (#18.3): the real dispatcher's SageMaker
backend asks the strict emulator for a job with a role that is not an ARN, CreateTrainingJob answers
ValidationException as AWS does, and the run is `failed` with AWS's message on its timeline - not
left in `training` until the workflow's timeout while the message goes to the DLQ."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from mlops_testkit.release import Release


def test_a_refused_training_job_fails_the_run_within_seconds_with_awss_message(release: Release) -> None:
    dlq_before = _messages(release, "TRAINING_DLQ_URL")
    run_id = release.launch(f"rag-qa-{uuid.uuid4().hex[:6]}-train-refused")
    run = release.wait_for(run_id, "failed", timeout=60)
    assert [e["status"] for e in run["timeline"] if e["status"]] == ["pending", "training", "failed"]
    assert run["status_reason"] == "training failed: ValidationException"
    failed = next(e for e in run["timeline"] if e["status"] == "failed")
    details = failed["data"]["failure"]["details"]
    assert details["Error"] == "ValidationException"
    # AWS's own words, naming the member it refused
    assert details["Cause"].startswith("CreateTrainingJob: ")
    assert "'RoleArn' failed to satisfy constraint" in details["Cause"]
    # Within seconds: from the moment the workflow handed the task to the dispatcher (its message
    # sent) to the failure on the run's timeline, on the emulator's and the bus's clocks.
    handed_over, answered = _training_task_times(release, run)
    elapsed = (datetime.fromisoformat(failed["occurred_at"]) - handed_over).total_seconds()
    assert elapsed < 5, (
        f"the run failed {elapsed:.1f} s after the training task was handed over "
        f"(the dispatcher answered after {(answered - handed_over).total_seconds():.1f} s)"
    )

    assert release.execution(run)["status"] == "FAILED"
    # the training message was acknowledged, not handed back for retries into the DLQ
    assert _messages(release, "TRAINING_DLQ_URL") == dlq_before
    deadline = time.monotonic() + 3
    while _messages(release, "TRAINING_QUEUE_URL") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _messages(release, "TRAINING_QUEUE_URL") == 0


def _messages(release: Release, queue: str) -> int:
    """Visible and in-flight messages of one of the stack's queues."""
    attributes = release.stack.client("sqs").get_queue_attributes(
        QueueUrl=release.stack.env[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _training_task_times(release: Release, run: dict[str, Any]) -> tuple[datetime, datetime]:
    """When StartTraining sent its message and when its task failed (the execution history)."""
    history = release.stack.client("stepfunctions").get_execution_history(executionArn=run["execution_arn"])
    events = history["events"]
    entered = next(
        e["id"] for e in events if (e.get("stateEnteredEventDetails") or {}).get("name") == "StartTraining"
    )
    after = [e for e in events if e["id"] > entered]
    submitted: datetime = next(e["timestamp"] for e in after if e["type"] == "TaskSubmitted")
    failed: datetime = next(e["timestamp"] for e in after if e["type"] == "TaskFailed")
    return submitted, failed
