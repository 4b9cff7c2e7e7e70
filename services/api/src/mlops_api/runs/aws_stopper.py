"""Stopping a cancelled run's AWS work: its workflow execution, its SageMaker training jobs and its
candidate model package. Each stop is tried whatever the others did, and its outcome is returned,
never raised (mlops_api.runs.cancel puts the outcomes on the run's timeline)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_api.runs.cancel import CancelTarget, StopOutcome, cancel_reason
from mlops_contracts.aws import aws_client

log = logging.getLogger(__name__)

# UpdateModelPackage.ApprovalDescription and StopExecution.cause are capped by the AWS API.
_APPROVAL_DESCRIPTION_MAX = 1024
_STOP_CAUSE_MAX = 32768
_ACTIVE_JOB_STATUSES = frozenset({"InProgress"})
_MISSING_GROUP = ("does not exist", "not found", "ResourceNotFound")


def _refused(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def one_line(text: str) -> str:
    """ApprovalDescription's pattern is `.*` (one line): a reason's line breaks become spaces."""
    return " ".join(text.split())


class AwsRunStopper:
    def __init__(self, region: str | None) -> None:
        self._region = region

    def _client(self, service: str) -> Any:
        return aws_client(service, region=self._region, max_attempts=3)

    async def stop(self, target: CancelTarget) -> Sequence[StopOutcome]:
        return await asyncio.to_thread(self._stop_all, target)

    def _stop_all(self, target: CancelTarget) -> list[StopOutcome]:
        # The execution first: stopped, it creates no package and starts no job after the lookups below.
        steps: list[tuple[str, Callable[[CancelTarget], StopOutcome]]] = [
            ("StopExecution", self._stop_execution),
            ("StopTrainingJob", self._stop_training_jobs),
            ("UpdateModelPackage", self._reject_candidate),
        ]
        outcomes = []
        for action, step in steps:
            try:
                outcomes.append(step(target))
            except (ClientError, BotoCoreError) as exc:
                log.warning("cancel of run %s: %s failed: %s", target.run_id, action, _refused(exc))
                outcomes.append(StopOutcome(action, "failed", _refused(exc)))
        return outcomes

    def _stop_execution(self, target: CancelTarget) -> StopOutcome:
        if not target.execution_arn:
            return StopOutcome("StopExecution", "nothing", "no workflow execution had claimed the run")
        self._client("stepfunctions").stop_execution(
            executionArn=target.execution_arn,
            error="RunCancelled",
            cause=cancel_reason(target.cancelled_by, target.reason)[:_STOP_CAUSE_MAX],
        )
        return StopOutcome("StopExecution", "done", target.execution_arn)

    def _stop_training_jobs(self, target: CancelTarget) -> StopOutcome:
        # Found by the tags the training dispatcher gives each job (run_id, model_name), not by its
        # name: names are the dispatcher's to choose.
        sagemaker = self._client("sagemaker")
        found = sagemaker.search(
            Resource="TrainingJob",
            SearchExpression={
                "Filters": [
                    {"Name": "Tags.run_id", "Operator": "Equals", "Value": str(target.run_id)},
                    {"Name": "Tags.model_name", "Operator": "Equals", "Value": target.model_name},
                ]
            },
        )
        running = [
            job["TrainingJobName"]
            for result in found.get("Results", [])
            if (job := result.get("TrainingJob") or {}).get("TrainingJobStatus") in _ACTIVE_JOB_STATUSES
        ]
        if not running:
            return StopOutcome(
                "StopTrainingJob", "nothing", "no SageMaker training job of the run was running"
            )
        for name in running:
            sagemaker.stop_training_job(TrainingJobName=name)
        return StopOutcome("StopTrainingJob", "done", ", ".join(running))

    def _reject_candidate(self, target: CancelTarget) -> StopOutcome:
        sagemaker = self._client("sagemaker")
        arn = self._candidate_of(sagemaker, target)
        if arn is None:
            return StopOutcome("UpdateModelPackage", "nothing", "the run had no candidate model package")
        # The verdict goes where the workflow writes its own (package versions take no tags).
        sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus="Rejected",
            ApprovalDescription=one_line(cancel_reason(target.cancelled_by, target.reason))[
                :_APPROVAL_DESCRIPTION_MAX
            ],
            CustomerMetadataProperties={"deployment_status": "cancelled", "validation": "cancelled"},
        )
        return StopOutcome("UpdateModelPackage", "done", f"{arn} Rejected")

    def _candidate_of(self, sagemaker: Any, target: CancelTarget) -> str | None:
        """The run's package in the model's group: the workflow writes the run id into its metadata."""
        try:
            pages = sagemaker.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=target.model_name, SortBy="CreationTime", SortOrder="Descending"
            )
            arns = [p["ModelPackageArn"] for page in pages for p in page.get("ModelPackageSummaryList", [])]
        except ClientError as exc:
            if any(m in _refused(exc) for m in _MISSING_GROUP):
                return None  # no package was ever registered for the model
            raise
        for arn in arns:
            described = sagemaker.describe_model_package(ModelPackageName=arn)
            if str((described.get("CustomerMetadataProperties") or {}).get("run_id")) == str(target.run_id):
                return str(arn)
        return None
