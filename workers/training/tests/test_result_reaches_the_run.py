"""A SageMaker job's end, through the completion handler, to the live API: the training result in
the job's output.tar.gz (real S3 in the emulator) is PUT on the run with the trainer's own key before
the workflow's task is answered. SageMaker itself cannot run here: DescribeTrainingJob is a Stubber
answer in the real response shape."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import psycopg
import pytest
from botocore.stub import Stubber

from mlops_contracts.aws import aws_client
from mlops_testkit.api import Clients, make_key, run_body
from mlops_testkit.servers import WaitingTask
from mlops_training.dispatch import sagemaker
from mlops_training.result import RESULT_FILE

BUCKET = "result-test"
HISTORY = [
    {"step": s, "train_loss": round(2.0 * 0.9**s, 4), "tokens_per_second": 900.0} for s in (10, 20, 30)
]
RESULT = {
    "metrics": {
        "train_loss": HISTORY[-1]["train_loss"],
        "train_steps": 30.0,
        "epoch_losses": [1.2, 0.9],
        "history": HISTORY,
        "mlflow": {
            "run_id": "0a1b2c",
            "experiment_id": "3",
            "url": "https://mlflow.example.com/#/experiments/3/runs/0a1b2c",
        },
    }
}


def output_archive() -> bytes:
    body = json.dumps(RESULT).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(RESULT_FILE)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_a_completed_job_records_its_result_on_the_run(
    clients: Clients,
    datasets: dict[str, int],
    db: psycopg.Connection[Any],
    waiting_task: WaitingTask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with clients.as_("operator") as op:
        run_id = int(op.post("/runs", json=run_body(datasets)).json()["id"])
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.setenv("TRAINER_API_KEY", make_key(db, "trainer"))
    s3 = aws_client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    name, prefix = f"m-run-{run_id}-0123456789", f"m/run-{run_id}/"
    s3.put_object(
        Bucket=BUCKET,
        Key=sagemaker.token_key(prefix, name),
        Body=json.dumps({"task_token": waiting_task.token}).encode(),
    )
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}{name}/output/output.tar.gz", Body=output_archive())

    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    real_client = sagemaker.aws_client
    monkeypatch.setattr(sagemaker, "aws_client", lambda s: client if s == "sagemaker" else real_client(s))
    with Stubber(client) as stub:
        stub.add_response(
            "describe_training_job",
            {
                "TrainingJobName": name,
                "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}",
                "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/{prefix}{name}/output/model.tar.gz"},
                "TrainingJobStatus": "Completed",
                "SecondaryStatus": "Completed",
                "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
                "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                "CreationTime": "2026-11-23T10:00:00Z",
                "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/{prefix}"},
                "Environment": {"RUN_ID": str(run_id), "EVENT_BUS_NAME": "mlops-events"},
            },
            {"TrainingJobName": name},
        )
        event = {"detail": {"TrainingJobName": name, "TrainingJobStatus": "Completed"}}
        assert sagemaker.handle_state_change(event) == "succeeded"
    assert waiting_task.result()["status"] == "SUCCEEDED"
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    [training] = [r for r in run["results"] if r["stage"] == "training"]
    assert training["metrics"] == RESULT["metrics"]
