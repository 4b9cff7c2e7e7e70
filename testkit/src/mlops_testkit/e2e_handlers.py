"""Stand-ins for the training and evaluation workers in the workflow's end-to-end tests (issue #4,
item 4): they answer the task token with the outcome the run's model name asks for, through the
same queues and the same local runner as the real workers. Each branch of the release workflow is
driven by a model name:
    *-train-fails  training fails          *-eval-fails  evaluation fails
    *-below        MLScore below threshold  anything else passes with MLScore 0.82
    *-train-refused  the real dispatcher's SageMaker backend asks the emulator (strict, as AWS) for a
                     training job with a role that is not an ARN: CreateTrainingJob is refused
"""

from __future__ import annotations

import json
from typing import Any

from mlops_contracts.aws import aws_client
from mlops_training.dispatch.messages import TrainingTask
from mlops_training.dispatch.sagemaker import SageMakerSettings, dispatch_sagemaker

SCORES = {"faithfulness": 0.9, "answer_relevancy": 0.8, "context_precision": 0.75, "context_recall": 0.8}


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(record["body"]) for record in event["Records"]]


# A misconfigured deployment: SAGEMAKER_ROLE_ARN holds the role's name, not its ARN.
REFUSED_JOB_SETTINGS = {
    "TRAINING_IMAGE": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-training:e2e",
    "SAGEMAKER_ROLE_ARN": "mlops-sagemaker-role",
}


def training(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sfn = aws_client("stepfunctions")
    for task in _records(event):
        if task["model_name"].endswith("-train-refused"):
            dispatch_sagemaker(
                TrainingTask.model_validate(task), SageMakerSettings.model_validate(REFUSED_JOB_SETTINGS)
            )
            continue
        if task["model_name"].endswith("-train-waits"):
            continue  # a long training job: the workflow waits on its token (cancel tests stop it)
        if task["model_name"].endswith("-train-fails"):
            sfn.send_task_failure(
                taskToken=task["task_token"], error="TrainingFailed", cause="CUDA out of memory"
            )
        else:
            artifact = f"{task['output_uri']}model.tar.gz"
            sfn.send_task_success(
                taskToken=task["task_token"],
                output=json.dumps({"artifact_uri": artifact, "metrics": {"train_loss": 0.41}}),
            )
    return {"batchItemFailures": []}


def evaluation(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sfn = aws_client("stepfunctions")
    for task in _records(event):
        name = task["model_name"]
        if name.endswith("-eval-fails"):
            sfn.send_task_failure(
                taskToken=task["task_token"], error="EvaluationFailed", cause="coverage 0.4 < 0.9"
            )
            continue
        score = 0.55 if name.endswith("-below") else 0.82
        outcome = {
            "passed": score >= task["ml_score_threshold"],
            "ml_score": score,
            "scores": SCORES,
            "coverage": 1.0,
        }
        sfn.send_task_success(taskToken=task["task_token"], output=json.dumps(outcome))
    return {"batchItemFailures": []}
