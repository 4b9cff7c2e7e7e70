"""The GPU evaluation jobs in envs/prod's plan (#17.1; docs/decisions/0020-evaluation-as-a-processing-job.md):
the evaluation function dispatches them, their state-change events reach the completion function and
failed ones the alarm topic, their security group only sends HTTPS, their logs are encrypted."""

from __future__ import annotations

import json
from typing import Any

ProdPlan = Any  # conftest.ProdPlan
STATE_CHANGE = "SageMaker Processing Job State Change"


def test_the_jobs_role_is_sagemakers(prod_plan: ProdPlan) -> None:
    role = prod_plan.by_address("aws_iam_role.evaluation_job")
    assert role["name"] == "mlops-eval-job-role"
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_state_changes_reach_the_completion_function_and_failures_the_alarm_topic(
    prod_plan: ProdPlan,
) -> None:
    rules = {r["name"]: r for r in prod_plan.values("aws_cloudwatch_event_rule")}
    completion = json.loads(rules["mlops-evaluation-completion-trigger"]["event_pattern"])
    assert completion == {
        "source": ["aws.sagemaker"],
        "detail-type": [STATE_CHANGE],
        "detail": {"ProcessingJobStatus": ["Failed", "Stopped"]},
    }
    failed = json.loads(rules["mlops-evaluation-job-failed"]["event_pattern"])
    assert failed["detail"] == {"ProcessingJobStatus": ["Failed"]}
    target = prod_plan.by_address("aws_cloudwatch_event_target.evaluation_job_failed")
    assert target["rule"] == "mlops-evaluation-job-failed"
    handler = prod_plan.by_address(
        'module.evaluation_completion.aws_lambda_function.this["mlops-evaluation-completion"]'
    )
    assert handler["image_config"][0]["command"] == ["mlops_sqs_runtime.lambda_entry.handler"]
    assert (
        handler["environment"][0]["variables"]["ORIG_HANDLER"]
        == "mlops_evaluation.handler.completion_handler"
    )


def test_the_jobs_network_and_logs(prod_plan: ProdPlan) -> None:
    egress = [
        r for r in prod_plan.of_type("aws_vpc_security_group_egress_rule") if "evaluation_job" in r["address"]
    ]
    assert [
        (r["values"]["ip_protocol"], r["values"]["from_port"], r["values"]["to_port"]) for r in egress
    ] == [("tcp", 443, 443)]
    assert not [
        r
        for r in prod_plan.of_type("aws_vpc_security_group_ingress_rule")
        if "evaluation_job" in r["address"]
    ]
    logs = prod_plan.by_address("aws_cloudwatch_log_group.processing_jobs")
    assert logs["name"] == "/aws/sagemaker/ProcessingJobs"
    assert logs["retention_in_days"] == 30
