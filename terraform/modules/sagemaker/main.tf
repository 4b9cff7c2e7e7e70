# SageMaker side of the platform: the training jobs' execution role (mlops-sagemaker-role in the
# seed's role table) and the Model Registry's package groups. The workflow creates a group per model
# name on first registration; groups listed in var.model_package_groups are created up front.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  region_acc = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  log_group  = "${local.arn_prefix}:logs:${local.region_acc}:log-group:/aws/sagemaker/TrainingJobs"
  registry_arns = [
    "${local.arn_prefix}:sagemaker:${local.region_acc}:model-package-group/*",
    "${local.arn_prefix}:sagemaker:${local.region_acc}:model-package/*",
  ]
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = var.execution_role_name
  description        = "SageMaker training jobs of the platform (LoRA fine-tuning)"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = [for arn in var.read_bucket_arns : "${arn}/*"]
  }

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = distinct(concat(var.read_bucket_arns, [var.output_bucket_arn]))
  }

  statement {
    sid       = "WriteModelsAndCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.output_bucket_arn}/*"]
  }

  statement {
    sid       = "UseThePlatformKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn_pattern]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = [var.kms_key_alias]
    }
  }

  statement {
    sid       = "PullTheTrainingImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = var.ecr_repository_arns
  }

  # ecr:GetAuthorizationToken has no resource-level permissions (AWS documents "*").
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.log_group, "${local.log_group}:*"]
  }

  # PutMetricData has no resource-level permissions: the namespace condition scopes it.
  statement {
    sid       = "PublishJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }

  dynamic "statement" {
    for_each = var.mlflow_tracking_server_arn == null ? [] : [var.mlflow_tracking_server_arn]
    content {
      sid = "TrackExperimentsInManagedMlflow"
      actions = [
        "sagemaker-mlflow:CreateExperiment",
        "sagemaker-mlflow:GetExperiment",
        "sagemaker-mlflow:GetExperimentByName",
        "sagemaker-mlflow:SearchExperiments",
        "sagemaker-mlflow:CreateRun",
        "sagemaker-mlflow:GetRun",
        "sagemaker-mlflow:UpdateRun",
        "sagemaker-mlflow:LogMetric",
        "sagemaker-mlflow:LogParam",
        "sagemaker-mlflow:LogBatch",
        "sagemaker-mlflow:SetTag",
      ]
      resources = [statement.value]
    }
  }

  # Gated and private base models: the job reads the token by the secret's id when it starts
  # (mlops_contracts.hub_token); the token is never in the job's configuration.
  dynamic "statement" {
    for_each = var.hub_token_secret_arn == null ? [] : [var.hub_token_secret_arn]
    content {
      sid       = "ReadTheHubToken"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  # One progress fact per logging window (mlops_training.progress), and only that fact: the job runs
  # the model's own code, so it may put nothing else on the bus.
  dynamic "statement" {
    for_each = var.progress_event_bus_arn == null ? [] : [var.progress_event_bus_arn]
    content {
      sid       = "PublishTrainingProgress"
      actions   = ["events:PutEvents"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = ["mlops.training"]
      }
      condition {
        test     = "StringEquals"
        variable = "events:detail-type"
        values   = ["run.training_progress"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "training"
  role   = aws_iam_role.execution.name
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_sagemaker_model_package_group" "this" {
  for_each = var.model_package_groups

  model_package_group_name        = each.key
  model_package_group_description = each.value
  tags                            = var.tags
}
