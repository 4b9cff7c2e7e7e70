# What each component's code calls (grep `aws_client(` in services/ and workers/), on this estate's
# resources. The modules add the plumbing every role of their kind needs (logs, X-Ray, queue
# consumption, image pull). tests/infra/test_prod_iam.py holds the expected table of every role.
#
# Resource "*" only where the action has no resource-level permissions: states:SendTask* (a task
# token is the authorization), sagemaker:List* of the registry, X-Ray writes, ecr:GetAuthorizationToken,
# cloudwatch:PutMetricData (scoped by a namespace condition).

locals {
  use_key = {
    test     = "ForAnyValue:StringEquals"
    variable = "kms:ResourceAliases"
    values   = [local.kms_alias]
  }
}

# ECS: the API's task role (mlops-api-role), its code and the ADOT collector beside it
data "aws_iam_policy_document" "api" {
  #checkov:skip=CKV_AWS_356:"*" only for actions without resource-level permissions: states:SendTask* (authorized by the task token), sagemaker:ListModelPackage(Group)s, sagemaker:Search, X-Ray writes; tests/infra/test_prod_iam.py lists them
  statement {
    sid       = "PublishOutboxEvents"
    actions   = ["events:PutEvents", "events:DescribeEventBus"]
    resources = [local.event_bus_arn]
  }

  statement {
    sid       = "AnswerApprovalTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = ["*"]
  }

  # The reconciler (mlops_api.ops.reconciler) compares active runs with their executions.
  statement {
    sid       = "ReconcileRuns"
    actions   = ["states:DescribeExecution"]
    resources = ["${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*"]
  }

  # POST /runs/{id}/cancel (mlops_api.runs.aws_stopper) stops the run's execution and training job
  # and rejects its candidate package; it finds the job by its tags (Search has no resource ARN).
  statement {
    sid       = "CancelRunExecutions"
    actions   = ["states:StopExecution"]
    resources = ["${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*"]
  }

  statement {
    sid       = "CancelRunTrainingJobs"
    actions   = ["sagemaker:StopTrainingJob"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  }

  statement {
    sid       = "FindRunTrainingJobs"
    actions   = ["sagemaker:Search"]
    resources = ["*"]
  }

  statement {
    sid       = "RejectCancelledCandidates"
    actions   = ["sagemaker:UpdateModelPackage"]
    resources = module.sagemaker.model_registry_arns
  }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["api-bootstrap-key"]]
  }

  # The RDS-managed master secret (its name is RDS's): the one tagged with our instance.
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.arn}:secretsmanager:${local.region_acc}:secret:rds!db-*"]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [module.database.instance_arn_pattern]
    }
  }

  statement {
    sid       = "ListModelRegistry"
    actions   = ["sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadModelRegistry"
    actions   = ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage"]
    resources = module.sagemaker.model_registry_arns
  }

  # POST /deployments/{id}/invoke ("try it"): one question to a model endpoint
  statement {
    sid       = "TryModelEndpoints"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:endpoint/*"]
  }

  statement {
    sid       = "ManageDatasets"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${local.datasets_arn}/*"]
  }

  statement {
    sid       = "ReadEvaluationOutputs"
    actions   = ["s3:GetObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  statement {
    sid       = "UseThePlatformKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_pattern]
    condition {
      test     = local.use_key.test
      variable = local.use_key.variable
      values   = local.use_key.values
    }
  }

  # The ADOT collector (awsxray exporter) sends the API's OpenTelemetry spans to X-Ray.
  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }

  # The ADOT collector (awsemf exporter) writes the scraped /metrics as EMF lines to its log group;
  # CloudWatch extracts the metrics from them (docs/decisions/0019-platform-metrics-and-traces.md).
  statement {
    sid       = "WriteMetricsAsEmf"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.arn}:logs:${local.region_acc}:log-group:${local.api_metrics_log_group}:*"]
  }
}

# The ECS tasks' trust (the migration's task role; the services' roles are modules/ecs_service's).
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ECS: the one-off schema migration (mlops-migrate-role): the database secret only.
data "aws_iam_policy_document" "migrate" {
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.arn}:secretsmanager:${local.region_acc}:secret:rds!db-*"]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [module.database.instance_arn_pattern]
    }
  }

  statement {
    sid       = "DecryptTheDatabaseSecret"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_pattern]
    condition {
      test     = local.use_key.test
      variable = local.use_key.variable
      values   = local.use_key.values
    }
  }
}

# Lambda: evaluation (mlops-eval-role)
data "aws_iam_policy_document" "evaluation" {
  statement {
    sid       = "ReadDatasetsAndCandidates"
    actions   = ["s3:GetObject"]
    resources = concat(["${local.datasets_arn}/*", "${local.model_outputs_arn}/*"], [for b in local.model_source_arns : "${b}/*"])
  }

  statement {
    sid       = "ListCandidates"
    actions   = ["s3:ListBucket"]
    resources = concat([local.datasets_arn, local.model_outputs_arn], local.model_source_arns)
  }

  statement {
    sid       = "WriteEvaluationOutputs"
    actions   = ["s3:PutObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  statement {
    sid       = "EncryptOutputs"
    actions   = ["kms:GenerateDataKey"]
    resources = [local.kms_key_pattern]
    condition {
      test     = local.use_key.test
      variable = local.use_key.variable
      values   = local.use_key.values
    }
  }

  statement {
    sid       = "Judge"
    actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    resources = local.judge_models
  }

  # An evaluation first asks Bedrock whether its judge models are offered (judges/availability.py).
  statement {
    sid       = "CheckJudgeModels"
    actions   = ["bedrock:GetFoundationModel"]
    resources = local.judge_models
  }

  statement {
    sid       = "AnswerEvaluationTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadOwnApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["evaluator-api-key"]]
  }

  # the candidate's base model may be gated (mlops_contracts.hub_token)
  statement {
    sid       = "ReadTheHubToken"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["hf-token"]]
  }
}

# Lambda: training dispatcher (mlops-dispatcher-role)
data "aws_iam_policy_document" "dispatcher" {
  statement {
    sid       = "StartTrainingJobs"
    actions   = ["sagemaker:CreateTrainingJob", "sagemaker:AddTags"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  }

  statement {
    sid       = "PassTheTrainingRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account_id}:role/${var.name}-sagemaker-role"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  statement {
    sid       = "KeepTheTaskToken"
    actions   = ["s3:PutObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  # A job AWS refuses fails the workflow's task at once (with AWS's reason); a name already in use
  # is checked to be this task's own job (an SQS redelivery).
  statement {
    sid       = "FindItsOwnJob"
    actions   = ["sagemaker:DescribeTrainingJob"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  }

  statement {
    sid       = "FailRefusedTrainingTasks"
    actions   = ["states:SendTaskFailure"]
    resources = ["*"]
  }
}

# Lambda: deployer (mlops-deployer-role): the models, endpoint configs and endpoints it names
# (mlops_deployer.sagemaker), their alarms, the package it deploys, the smoke test's invocations.
data "aws_iam_policy_document" "deployer" {
  #checkov:skip=CKV_AWS_356:"*" only for states:SendTask* (authorized by the task token); tests/infra/test_prod_iam.py lists it
  statement {
    sid     = "DeployEndpoints"
    actions = ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:InvokeEndpoint", "sagemaker:AddTags"]
    resources = [
      "${local.arn}:sagemaker:${local.region_acc}:model/*",
      "${local.arn}:sagemaker:${local.region_acc}:endpoint-config/*",
      "${local.arn}:sagemaker:${local.region_acc}:endpoint/*",
    ]
  }

  statement {
    sid       = "ReadApprovedPackages"
    actions   = ["sagemaker:DescribeModelPackage"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:model-package/*"]
  }

  # CreateModel passes the SageMaker execution role to the endpoint's containers
  statement {
    sid       = "PassTheExecutionRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account_id}:role/${var.name}-sagemaker-role"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  # the canary's auto-rollback alarms, one pair per endpoint
  statement {
    sid       = "RollbackAlarms"
    actions   = ["cloudwatch:PutMetricAlarm", "cloudwatch:TagResource"]
    resources = ["${local.arn}:cloudwatch:${local.region_acc}:alarm:${var.name}-serving-*"]
  }

  statement {
    sid       = "AnswerDeployTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = ["*"]
  }

  # PATCH /deployments/{id}/status and the rest of the deployer role's routes
  statement {
    sid       = "ItsApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["deployer-api-key"]]
  }
}

# Lambda: training completion (mlops-training-completion-role)
data "aws_iam_policy_document" "completion" {
  statement {
    sid       = "DescribeTrainingJobs"
    actions   = ["sagemaker:DescribeTrainingJob"]
    resources = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  }

  statement {
    sid       = "ReadTheTaskToken"
    actions   = ["s3:GetObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  statement {
    sid       = "AnswerTrainingTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = ["*"]
  }

  # PUT /runs/{id}/results/training (mlops_training.dispatch.results), role trainer
  statement {
    sid       = "ReadOwnApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["trainer-api-key"]]
  }
}

# Lambda: approval requests (mlops-approval-role)
data "aws_iam_policy_document" "approval" {
  statement {
    sid       = "NotifyApprovers"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
  }

  statement {
    sid       = "EncryptNotifications"
    actions   = ["kms:GenerateDataKey"]
    resources = [local.kms_key_pattern]
    condition {
      test     = local.use_key.test
      variable = local.use_key.variable
      values   = local.use_key.values
    }
  }

  statement {
    sid       = "FailRefusedApprovals"
    actions   = ["states:SendTaskFailure"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadOwnApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["approval-worker-api-key"]]
  }
}

# Lambda: Teams formatter (mlops-teams-formatter-role)
data "aws_iam_policy_document" "formatter" {
  statement {
    sid       = "ReadTeamsWebhook"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["teams-webhook"]]
  }
}

# Lambda: projector (mlops-projector-role)
data "aws_iam_policy_document" "projector" {
  statement {
    sid       = "ReadOwnApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["projector-api-key"]]
  }
}

# Lambda: claims (mlops-claims-role): the workflow's first step, answered through the task token
data "aws_iam_policy_document" "claims" {
  #checkov:skip=CKV_AWS_356:"*" only for states:SendTask* (authorized by the task token); tests/infra/test_prod_iam.py lists it
  statement {
    sid       = "ReadOwnApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["projector-api-key"]]
  }

  statement {
    sid       = "AnswerClaimTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = ["*"]
  }
}
