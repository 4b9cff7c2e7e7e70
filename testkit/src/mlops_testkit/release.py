"""The release workflow's harness for end-to-end tests and the workflow benchmark: a running platform
(Terraform's local stack, the API, the local runner playing the workers) and what a test asks of it."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mlops_contracts.secrets import WORKER_ROLES, worker_key_environment
from mlops_devstack.processes import ChildProcess
from mlops_testkit.api import ApiServer
from mlops_testkit.servers import ProvisionedStack

SIGNING_KEY = "e2e-approval-signing-key-" + "s" * 32


def mappings(handlers: dict[str, str], training_timeout: float, evaluation_timeout: float) -> dict[str, Any]:
    """The runner's mappings (terraform/lambda_mappings.json's format), with 1-second polls."""
    common = {"batch_size": 1, "poll_wait_seconds": 1}
    return {
        "mappings": {
            "claims": {
                "handler": "mlops_projector.claim:handler",
                "queue_url_env": "CLAIMS_QUEUE_URL",
                **common,
                "function_timeout_seconds": 30,
            },
            "run_events": {
                "handler": "mlops_projector.handler:handler",
                "queue_url_env": "RUN_EVENTS_QUEUE_URL",
                **common,
                "batch_size": 10,
                "max_batching_window_seconds": 0,
                "function_timeout_seconds": 60,
            },
            "approval": {
                "handler": "mlops_approval.handler:handler",
                "queue_url_env": "APPROVAL_QUEUE_URL",
                **common,
                "function_timeout_seconds": 60,
            },
            "training": {
                "handler": handlers["training"],
                "queue_url_env": "TRAINING_QUEUE_URL",
                **common,
                "function_timeout_seconds": training_timeout,
            },
            "evaluation": {
                "handler": handlers["evaluation"],
                "queue_url_env": "EVALUATION_QUEUE_URL",
                **common,
                "function_timeout_seconds": evaluation_timeout,
            },
            # the real deployer (SERVING_BACKEND=local): an approved run's model data served by
            # a process (a stand-in training's artifact does not exist: its deployment fails)
            "deployments": {
                "handler": handlers.get("deployments", "mlops_deployer.handler:handler"),
                "queue_url_env": "DEPLOYMENTS_QUEUE_URL",
                **common,
                "function_timeout_seconds": 600,
            },
        }
    }


@dataclass
class Release:
    stack: ProvisionedStack
    api: ApiServer
    keys: dict[str, str]
    datasets: dict[str, int]
    tap_url: str
    runner_log: Path
    notes_seen: list[dict[str, Any]] = field(default_factory=list)
    database_url: str = ""  # the release's own database, for what only the database shows (the outbox)
    api_env: dict[str, Any] = field(default_factory=dict)  # what the API was started with (for a restart)

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.api.base_url, headers={"X-API-Key": self.keys[role]}, timeout=30)

    def launch(self, model_name: str, *, task_type: str = "finetune", **extra: Any) -> int:
        body: dict[str, Any] = {
            "model_name": model_name,
            "model_id": "mistralai/Mistral-7B-v0.1",
            "task_type": task_type,
            "experiment_name": "e2e",
            "eval_dataset_id": self.datasets["eval"],
            **extra,
        }
        if task_type == "finetune":
            body.setdefault("train_dataset_id", self.datasets["train"])
        with self.client("operator") as op:
            response = op.post("/runs", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        with self.client("viewer") as viewer:
            run: dict[str, Any] = viewer.get(f"/runs/{run_id}").json()
        return run

    def wait_for(self, run_id: int, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run = self.run(run_id)
        while run["status"] not in statuses:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} is '{run['status']}', expected {statuses}; timeline: "
                    f"{[(e['event_type'], e['status']) for e in run['timeline']]}\n"
                    f"{self.execution_tail(run)}\n"
                    f"runner log tail:\n{self.runner_log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
            run = self.run(run_id)
        return run

    def wait_for_step(self, run_id: int, event_type: str, timeout: float = 30) -> dict[str, Any]:
        """The run's first timeline step of `event_type` (a fact the projector applies, in its time)."""
        deadline = time.monotonic() + timeout
        while True:
            steps: list[dict[str, Any]] = [
                e for e in self.run(run_id)["timeline"] if e["event_type"] == event_type
            ]
            if steps or time.monotonic() > deadline:
                assert steps, f"run {run_id} has no {event_type} step after {timeout} s"
                return steps[0]
            time.sleep(0.3)

    def execution_tail(self, run: dict[str, Any], events: int = 8) -> str:
        """Where the run's execution stands: its status and last history events (for failures)."""
        if not run.get("execution_arn"):
            return "no execution recorded for the run"
        sfn = self.stack.client("stepfunctions")
        status = sfn.describe_execution(executionArn=run["execution_arn"])["status"]
        # the whole history: the emulator ignores maxResults and reverseOrder
        history = sfn.get_execution_history(executionArn=run["execution_arn"])["events"][-events:]
        steps = [f"{e['type']}({(e.get('stateEnteredEventDetails') or {}).get('name', '')})" for e in history]
        return f"execution {status}, last events: {steps}"

    def wait_for_approval(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client("viewer") as viewer:
            while time.monotonic() < deadline:
                response = viewer.get(f"/runs/{run_id}/approval")
                if response.status_code == 200 and response.json().get("status") == "pending":
                    approval: dict[str, Any] = response.json()
                    return approval
                time.sleep(0.2)
        raise AssertionError(f"run {run_id}: no pending approval registered")

    def execution(self, run: dict[str, Any]) -> dict[str, Any]:
        sfn = self.stack.client("stepfunctions")
        deadline = time.monotonic() + 30
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=run["execution_arn"])
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.2)

    def package(self, model_name: str) -> dict[str, Any]:
        """The newest model package of the group, with its CustomerMetadataProperties as `metadata`
        (run id, lifecycle, threshold and the verdict: package versions take no tags) and its
        InferenceSpecification."""
        sm = self.stack.client("sagemaker")
        [summary] = sm.list_model_packages(ModelPackageGroupName=model_name)["ModelPackageSummaryList"][-1:]
        described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        return {
            **summary,
            "metadata": described.get("CustomerMetadataProperties") or {},
            "InferenceSpecification": described.get("InferenceSpecification") or {},
            "ApprovalDescription": described.get("ApprovalDescription"),
        }

    def notifications(self, run_id: int, *, expect: int, timeout: float = 15) -> list[dict[str, Any]]:
        """Notifications published to the topic for this run (read from the topic's queue). Run ids
        restart in each release's database, so the run's model name tells them apart."""
        model_name = self.run(run_id)["model_name"]
        return [
            n
            for n in self._notifications(run_id, expect, timeout, model_name)
            if n.get("model_name") == model_name
        ]

    def _notifications(
        self, run_id: int, expect: int, timeout: float, model_name: str
    ) -> list[dict[str, Any]]:
        sqs = self.stack.client("sqs")
        url = self.stack.env["NOTIFICATIONS_QUEUE_URL"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                self.notes_seen.append(notification(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            mine = [
                n for n in self.notes_seen if n.get("run_id") == run_id and n.get("model_name") == model_name
            ]
            if len(mine) >= expect:
                time.sleep(0.5)  # and nothing more than expected arrives
                return [n for n in self.notes_seen if n.get("run_id") == run_id]
        return [n for n in self.notes_seen if n.get("run_id") == run_id]

    def facts(self, run_id: int) -> list[dict[str, Any]]:
        """Every workflow fact of the run that reached the bus (copied by the test's tap rule)."""
        sqs = self.stack.client("sqs")
        found: list[dict[str, Any]] = []
        while messages := sqs.receive_message(
            QueueUrl=self.tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])
        return [f for f in found if f["detail"].get("run_id") == run_id]

    def archived_events(self) -> int:
        events = self.stack.client("events")
        [archive] = events.list_archives()["Archives"]
        return int(events.describe_archive(ArchiveName=archive["ArchiveName"])["EventCount"])


def notification(body: str) -> dict[str, Any]:
    envelope = json.loads(body)
    message = envelope.get("Message", body) if isinstance(envelope, dict) else body
    parsed: dict[str, Any] = json.loads(message) if isinstance(message, str) else message
    return parsed


def start_runner(
    stack: ProvisionedStack, api: ApiServer, keys: Mapping[str, str], tmp: Path, handlers: dict[str, str]
) -> ChildProcess:
    """The SQS runtime with the given handlers, its output in `tmp/runner.log`; each worker gets
    its own key from `keys` (by role)."""
    mappings_file = tmp / "lambda_mappings.json"
    mappings_file.write_text(json.dumps(mappings(handlers, training_timeout=3600, evaluation_timeout=900)))
    env = {
        **os.environ,
        "API_URL": api.base_url,
        **worker_key_environment({role: keys[role] for role in WORKER_ROLES}),
        "DASHBOARD_URL": "http://127.0.0.1:8501",
        "TRAINING_BACKEND": "local",
        "EVALUATION_BACKEND": "local",  # the evaluation job's container entrypoint, as make dev runs it
        "SERVING_BACKEND": "local",
        "DEPLOYER_STATE_DIR": str(tmp / "deployments"),
        "JUDGE": "local",
        "LOG_FORMAT": "text",
    }
    env.pop("API_KEY", None)  # no shared key to fall back on
    for key in [k for k in env if k.startswith("AWS_")]:
        del env[key]  # the env file points the runner at the stack's emulator
    return ChildProcess.start(
        "the SQS runtime",
        [
            sys.executable,
            "-m",
            "mlops_sqs_runtime.runner",
            "--mappings-file",
            str(mappings_file),
            "--env-file",
            str(stack.env_file),
            "--all",
        ],
        env=env,
        log=tmp / "runner.log",
        # the deployer's serving processes run in sessions of their own: they stop with the runner
        stop_descendants=True,
    )
