"""Least privilege of every production role, read from the plan of envs/prod (every policy document
is built from names, so the plan holds it in full).

EXPECTED is the table of what each role may do: a new permission fails here until it is added on
purpose. No action is a wildcard; a resource is "*" only for the actions listed in STAR_ALLOWED,
which AWS does not let a policy scope to a resource."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

ProdPlan = Any  # conftest.ProdPlan

LAMBDA_BASE = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "kms:Decrypt",
}
SQS_CONSUMER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
ECR_PULL = {
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetAuthorizationToken",
}

ECS_EXECUTION = ECR_PULL | {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt"}

EXPECTED: dict[str, set[str]] = {
    "mlops-api-role": {
        "events:PutEvents", "events:DescribeEventBus",
        "states:SendTaskSuccess", "states:SendTaskFailure", "states:DescribeExecution",
        "states:StopExecution", "sagemaker:StopTrainingJob", "sagemaker:Search", "sagemaker:UpdateModelPackage",
        "secretsmanager:GetSecretValue",
        "sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages",
        "sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage",
        "sagemaker:InvokeEndpoint",  # POST /deployments/{id}/invoke ("try it")
        "s3:PutObject", "s3:GetObject", "s3:DeleteObject",
        "kms:Decrypt", "kms:GenerateDataKey",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "logs:CreateLogStream", "logs:PutLogEvents",  # the ADOT collector's EMF lines
    },
    # ECS starts the tasks: image pull, logs, the task definition's secrets (the API's signing key).
    # The dashboard has no task role at all: it calls no AWS API, only the API.
    "mlops-api-execution-role": ECS_EXECUTION | {"secretsmanager:GetSecretValue"},
    "mlops-ui-execution-role": ECS_EXECUTION,
    "mlops-migrate-role": {"secretsmanager:GetSecretValue", "kms:Decrypt"},
    "mlops-eval-role": LAMBDA_BASE | SQS_CONSUMER | {
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "kms:GenerateDataKey",
        "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:GetFoundationModel",
        "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
        "secretsmanager:GetSecretValue",
        # EVALUATION_BACKEND=sagemaker: a GPU Processing job per task (evaluation_job.tf)
        "sagemaker:CreateProcessingJob", "sagemaker:AddTags", "sagemaker:DescribeProcessingJob", "iam:PassRole",
    },
    # the evaluation job on its GPU: the worker's code, the image, its logs and its VPC interfaces
    "mlops-eval-job-role": ECR_PULL | {
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey",
        "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:GetFoundationModel",
        "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
        "secretsmanager:GetSecretValue",  # the evaluator key and mlops/hf-token, by id
        "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
        "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups", "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
    },
    "mlops-evaluation-completion-role": LAMBDA_BASE | {
        "sagemaker:DescribeProcessingJob", "s3:GetObject", "states:SendTaskFailure",
    },
    "mlops-dispatcher-role": LAMBDA_BASE | SQS_CONSUMER | {
        "sagemaker:CreateTrainingJob", "sagemaker:AddTags", "iam:PassRole", "s3:PutObject",
        "sagemaker:DescribeTrainingJob", "states:SendTaskFailure",
    },
    "mlops-deployer-role": LAMBDA_BASE | SQS_CONSUMER | {
        "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
        "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint",
        "sagemaker:InvokeEndpoint", "sagemaker:AddTags", "sagemaker:DescribeModelPackage", "iam:PassRole",
        "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource",  # the canary's auto-rollback alarms
        "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
        "secretsmanager:GetSecretValue",  # its API key (role deployer)
    },
    "mlops-training-completion-role": LAMBDA_BASE | {
        "sagemaker:DescribeTrainingJob", "s3:GetObject", "states:SendTaskSuccess", "states:SendTaskFailure",
        "secretsmanager:GetSecretValue",  # its API key (role trainer): the training result
    },
    "mlops-approval-role": LAMBDA_BASE | SQS_CONSUMER | {
        "sns:Publish", "kms:GenerateDataKey", "states:SendTaskFailure", "secretsmanager:GetSecretValue",
    },
    "mlops-teams-formatter-role": LAMBDA_BASE | SQS_CONSUMER | {"secretsmanager:GetSecretValue"},
    "mlops-projector-role": LAMBDA_BASE | SQS_CONSUMER | {"secretsmanager:GetSecretValue"},
    "mlops-claims-role": LAMBDA_BASE | SQS_CONSUMER | {
        "secretsmanager:GetSecretValue", "states:SendTaskSuccess", "states:SendTaskFailure",
    },
    "mlops-sagemaker-role": ECR_PULL | {
        "s3:GetObject", "s3:PutObject", "s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey",
        "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "cloudwatch:PutMetricData",
        "secretsmanager:GetSecretValue",  # mlops/hf-token, read when the job starts
        "events:PutEvents",  # run.training_progress only (conditions on source and detail-type)
    },
    "mlops-release-workflow": {
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "sqs:SendMessage", "events:PutEvents", "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt",
        "sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage",
        "sagemaker:DescribeModelPackage", "sagemaker:AddTags",
        "sagemaker:Search", "sagemaker:StopTrainingJob",  # a failed training wait stops the run's job
    },
    "mlops-events-start-executions": {"states:StartExecution"},
    # a run's training jobs stop with its workflow (modules/platform_core: the rule on its end)
    "mlops-stop-training-jobs": {
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "events:PutEvents", "kms:GenerateDataKey", "kms:Decrypt", "sagemaker:Search", "sagemaker:StopTrainingJob",
    },
    "mlops-stop-training-jobs-start": {"states:StartExecution"},
    "vpc-mlops-flow-logs": {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
}  # fmt: skip

# Actions AWS authorizes on "*" only (no resource-level permissions), by role.
STAR_ALLOWED: dict[str, set[str]] = {
    "mlops-api-role": {
        "states:SendTaskSuccess", "states:SendTaskFailure",  # the task token is the authorization
        "sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages",
        "sagemaker:Search",  # finds a cancelled run's training job by its tags
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    },
    "mlops-api-execution-role": {"ecr:GetAuthorizationToken"},
    "mlops-ui-execution-role": {"ecr:GetAuthorizationToken"},
    "mlops-eval-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                        "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"},
    "mlops-eval-job-role": {"ecr:GetAuthorizationToken",
                            "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
                            "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"},
    "mlops-evaluation-completion-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                         "states:SendTaskFailure"},
    "mlops-dispatcher-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "states:SendTaskFailure"},
    "mlops-deployer-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                            "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"},
    "mlops-training-completion-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                       "states:SendTaskSuccess", "states:SendTaskFailure"},
    "mlops-approval-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "states:SendTaskFailure"},
    "mlops-teams-formatter-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    "mlops-projector-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    "mlops-claims-role": {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                          "states:SendTaskSuccess", "states:SendTaskFailure"},
    "mlops-sagemaker-role": {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"},
    "mlops-release-workflow": {
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "sagemaker:Search",  # finds the training job of a run whose training wait failed, by its tags
    },
    "mlops-stop-training-jobs": {
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "sagemaker:Search",  # finds a failed or stopped run's training jobs by their tags
    },
}  # fmt: skip

ACCOUNT = "123456789012"  # the emulator's
KEY_ACTIONS_PREFIX = "kms:"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def statements(prod_plan: ProdPlan) -> dict[str, list[dict[str, Any]]]:
    """Every Allow statement of every role's inline policies, by role name."""
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for policy in prod_plan.values("aws_iam_role_policy"):
        assert policy.get("policy"), f"the policy of {policy['role']} is not known at plan time"
        for statement in json.loads(policy["policy"])["Statement"]:
            by_role[policy["role"]].append(statement)
    return by_role


def test_every_role_is_in_the_table(prod_plan: ProdPlan) -> None:
    roles = {role["name"] for role in prod_plan.values("aws_iam_role")}
    assert roles == set(EXPECTED), "a role was added or removed: update EXPECTED on purpose"
    assert not prod_plan.of_type("aws_iam_role_policy_attachment"), "no managed policy: inline, reviewed here"
    assert not prod_plan.of_type("aws_iam_policy")


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_allows_exactly_the_expected_actions(
    role: str, statements: dict[str, list[dict[str, Any]]]
) -> None:
    actions = {a for s in statements.get(role, []) if s["Effect"] == "Allow" for a in _as_list(s["Action"])}
    assert actions == EXPECTED[role], (
        f"{role}: unexpected {sorted(actions - EXPECTED[role])}, missing {sorted(EXPECTED[role] - actions)}"
    )


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_no_wildcards_and_resources_scoped_to_the_estate(
    role: str, statements: dict[str, list[dict[str, Any]]]
) -> None:
    for statement in statements.get(role, []):
        assert statement["Effect"] == "Allow", f"{role}: only Allow statements in identity policies"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{role}: wildcard action {action}"
        resources = _as_list(statement["Resource"])
        if "*" in resources:
            assert resources == ["*"]
            extra = set(actions) - STAR_ALLOWED.get(role, set())
            assert not extra, f"{role}: {sorted(extra)} on Resource '*'"
            if "cloudwatch:PutMetricData" in actions:
                assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
            continue
        for resource in resources:
            assert resource.startswith("arn:aws:"), resource
            service, region, account = resource.split(":")[2:5]
            if service in ("s3", "bedrock"):
                assert resource.split(":::")[-1].startswith("mlops-") or service == "bedrock", resource
            else:
                assert account == ACCOUNT, f"{role}: {resource} is outside this account"
                assert region in ("eu-west-1", ""), resource
            # a log group's streams and one state machine's executions are named at run time
            narrowest = "log-group:" in resource or ":execution:mlops-release-workflow:" in resource
            assert not resource.endswith(":*") or narrowest, f"{role}: {resource} is too broad"
        if any(a.startswith(KEY_ACTIONS_PREFIX) for a in actions):
            # the key pattern is narrowed to the platform's key by its alias
            assert resources == [f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*"]
            assert statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"] == "alias/mlops"


def test_pass_role_only_to_sagemaker(statements: dict[str, list[dict[str, Any]]]) -> None:
    passing = [
        (role, s) for role, ss in statements.items() for s in ss if "iam:PassRole" in _as_list(s["Action"])
    ]
    # the training dispatcher (CreateTrainingJob), the deployer (CreateModel, #20) and the evaluation
    # function (CreateProcessingJob, #17: the evaluation job's own role)
    passed = {role: statement["Resource"] for role, statement in passing}
    assert passed == {
        "mlops-deployer-role": f"arn:aws:iam::{ACCOUNT}:role/mlops-sagemaker-role",
        "mlops-dispatcher-role": f"arn:aws:iam::{ACCOUNT}:role/mlops-sagemaker-role",
        "mlops-eval-role": f"arn:aws:iam::{ACCOUNT}:role/mlops-eval-job-role",
    }
    for _, statement in passing:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_roles_trust_only_their_service(prod_plan: ProdPlan) -> None:
    trusted = {
        "mlops-api-role": "ecs-tasks.amazonaws.com",
        "mlops-api-execution-role": "ecs-tasks.amazonaws.com",
        "mlops-ui-execution-role": "ecs-tasks.amazonaws.com",
        "mlops-migrate-role": "ecs-tasks.amazonaws.com",
        "mlops-sagemaker-role": "sagemaker.amazonaws.com",
        "mlops-eval-job-role": "sagemaker.amazonaws.com",
        "mlops-release-workflow": "states.amazonaws.com",
        "mlops-events-start-executions": "events.amazonaws.com",
        "mlops-stop-training-jobs": "states.amazonaws.com",
        "mlops-stop-training-jobs-start": "events.amazonaws.com",
        "vpc-mlops-flow-logs": "vpc-flow-logs.amazonaws.com",
    }
    for role in prod_plan.values("aws_iam_role"):
        (statement,) = json.loads(role["assume_role_policy"])["Statement"]
        expected = trusted.get(role["name"], "lambda.amazonaws.com")
        assert statement["Principal"] == {"Service": expected}, role["name"]


# Each worker reads its own API key, of its own role (services/api auth/roles.py), and no other (#23).
API_KEY_SECRET_OF = {
    "mlops-eval-role": "evaluator-api-key",
    "mlops-eval-job-role": "evaluator-api-key",  # the GPU job publishes the evaluation's results
    "mlops-approval-role": "approval-worker-api-key",
    "mlops-projector-role": "projector-api-key",
    "mlops-claims-role": "projector-api-key",  # the claim handler is the projector's
    "mlops-training-completion-role": "trainer-api-key",
    "mlops-deployer-role": "deployer-api-key",
}


def _secret_name(arn: str) -> str:
    return arn.split(":secret:")[-1].split("/")[-1].removesuffix("-??????")


def test_each_worker_reads_only_its_own_api_key(statements: dict[str, list[dict[str, Any]]]) -> None:
    for role, policy in statements.items():
        read = {
            _secret_name(resource)
            for statement in policy
            if "secretsmanager:GetSecretValue" in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }
        api_keys = {name for name in read if name.endswith("-api-key")}
        expected = {API_KEY_SECRET_OF[role]} if role in API_KEY_SECRET_OF else set()
        assert api_keys == expected, role


def _secrets_read(policy: list[dict[str, Any]]) -> set[str]:
    return {
        resource.split(":secret:")[-1]
        for statement in policy
        if "secretsmanager:GetSecretValue" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def test_ecs_roles_read_only_their_secrets(statements: dict[str, list[dict[str, Any]]]) -> None:
    # ECS injects the API's link-signing key (the task definition's `secrets`); the code no longer reads it
    assert _secrets_read(statements["mlops-api-execution-role"]) == {"mlops/approval-signing-key-??????"}
    assert _secrets_read(statements["mlops-ui-execution-role"]) == set()
    assert "mlops/approval-signing-key-??????" not in _secrets_read(statements["mlops-api-role"])
    # the migration reads the database's RDS-managed secret, and only the one of our instance
    (database,) = _secrets_read(statements["mlops-migrate-role"])
    assert database == "rds!db-*"
    (statement,) = [s for s in statements["mlops-migrate-role"] if s["Sid"] == "ReadDatabaseSecret"]
    assert "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" in statement["Condition"]["StringEquals"]


def test_execution_roles_pull_only_their_image(statements: dict[str, list[dict[str, Any]]]) -> None:
    for service in ("api", "ui"):
        pulls = [
            s
            for s in statements[f"mlops-{service}-execution-role"]
            if "ecr:BatchGetImage" in _as_list(s["Action"])
        ]
        (statement,) = pulls
        assert statement["Resource"] == f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/mlops-{service}"


def test_training_jobs_read_only_the_hub_token_and_publish_only_their_progress(
    statements: dict[str, list[dict[str, Any]]],
) -> None:
    """The job runs the model's own code (#17.3, #17.4): it reads mlops/hf-token and no other secret,
    and may put only run.training_progress facts of source mlops.training on the platform's bus."""
    policy = statements["mlops-sagemaker-role"]
    assert _secrets_read(policy) == {"mlops/hf-token-??????"}
    # the evaluation worker loads the same base model for the candidate
    assert _secrets_read(statements["mlops-eval-role"]) == {
        "mlops/evaluator-api-key-??????",
        "mlops/hf-token-??????",
    }
    (publish,) = [s for s in policy if "events:PutEvents" in _as_list(s["Action"])]
    assert publish["Resource"] == f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/mlops-events"
    assert publish["Condition"] == {
        "StringEquals": {"events:source": "mlops.training", "events:detail-type": "run.training_progress"}
    }
