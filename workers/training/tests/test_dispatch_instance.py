"""The SageMaker job trains on the run's own instance_type, the one POST /runs sized (#17.2)."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from mlops_api.runs.schemas import Hyperparameters as ApiHyperparameters
from mlops_training.config import parse_job_config
from mlops_training.dispatch import sagemaker
from mlops_training.dispatch.messages import TrainingTask

SETTINGS = sagemaker.SageMakerSettings(
    TRAINING_IMAGE="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-training:abc",
    SAGEMAKER_ROLE_ARN="arn:aws:iam::123456789012:role/mlops-sagemaker-role",
    TRAINING_INSTANCE_TYPE="ml.g4dn.xlarge",
)


def task(**hyperparameters: object) -> TrainingTask:
    return TrainingTask(
        task_token="token",
        run_id=5,
        model_name="mistral-7b-rag-qa",
        model_id="mistralai/Mistral-7B-v0.1",
        train_dataset_uri="s3://data/train/t.jsonl",
        hyperparameters=hyperparameters,
        output_uri="s3://outputs/runs/5/",
    )


def test_the_job_uses_the_runs_instance_type_and_passes_the_sizing_knobs() -> None:
    run = task(**ApiHyperparameters(instance_type="ml.g6e.xlarge", qlora=True).model_dump())
    request = sagemaker.create_job_request(run, SETTINGS)
    assert request["ResourceConfig"]["InstanceType"] == "ml.g6e.xlarge"
    # the container reads back what the API stored (strings, as SageMaker passes them)
    hp = parse_job_config(request["HyperParameters"]).hyperparameters
    assert (hp.instance_type, hp.qlora, hp.gradient_checkpointing) == ("ml.g6e.xlarge", True, True)
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:  # the real CreateTrainingJob input shape
        stub.add_response(
            "create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:eu-west-1:1:training-job/x"}, request
        )
        client.create_training_job(**request)


def test_a_task_without_one_falls_back_to_the_setting() -> None:
    assert (
        sagemaker.create_job_request(task(epochs=1), SETTINGS)["ResourceConfig"]["InstanceType"]
        == "ml.g4dn.xlarge"
    )
