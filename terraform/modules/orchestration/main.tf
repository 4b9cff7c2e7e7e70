data "aws_caller_identity" "current" {}

locals {
  log_group_name = coalesce(var.log_group_name, "/aws/vendedlogs/states/${var.name}")
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:30 days as in the platform's log retention table; the audit trail of runs is the API database and the 90-day bus archive
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "Role of the ${var.name} state machine"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_111:CloudWatch Logs delivery, X-Ray actions and sagemaker:Search support no resource-level permissions (AWS documents "*" for them)
  #checkov:skip=CKV_AWS_356:CloudWatch Logs delivery, X-Ray actions and sagemaker:Search support no resource-level permissions (AWS documents "*" for them)
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []
    content {
      sid       = "SendTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.sqs_queue_arns) > 0 ? [1] : []
    content {
      sid       = "SendWork"
      actions   = ["sqs:SendMessage"]
      resources = var.sqs_queue_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.event_bus_arns) > 0 ? [1] : []
    content {
      sid       = "PublishFacts"
      actions   = ["events:PutEvents"]
      resources = var.event_bus_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.sns_topic_arns) > 0 ? [1] : []
    content {
      sid       = "Notify"
      actions   = ["sns:Publish"]
      resources = var.sns_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns_for_publishing) > 0 ? [1] : []
    content {
      sid       = "EncryptWhatItPublishes"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = var.kms_key_arns_for_publishing

      dynamic "condition" {
        for_each = length(var.kms_key_aliases_for_publishing) > 0 ? [1] : []
        content {
          test     = "ForAnyValue:StringEquals"
          variable = "kms:ResourceAliases"
          values   = var.kms_key_aliases_for_publishing
        }
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.sagemaker_model_registry_arns) > 0 ? [1] : []
    content {
      sid = "RegisterAndTagModels"
      actions = [
        "sagemaker:CreateModelPackageGroup",
        "sagemaker:CreateModelPackage",
        "sagemaker:UpdateModelPackage",
        "sagemaker:DescribeModelPackage",
        "sagemaker:AddTags",
      ]
      resources = var.sagemaker_model_registry_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.sagemaker_training_job_arns) > 0 ? [1] : []
    content {
      sid       = "StopTrainingJobsOfFailedRuns"
      actions   = ["sagemaker:StopTrainingJob"]
      resources = var.sagemaker_training_job_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.sagemaker_training_job_arns) > 0 ? [1] : []
    content {
      sid       = "FindTrainingJobsOfFailedRuns"
      actions   = ["sagemaker:Search"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "workflow"
  role   = aws_iam_role.this.name
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:execution logging is on (level ALL by default); execution data (task tokens, run payloads) stays out of the logs unless var.log_include_execution_data
  name       = var.name
  type       = var.type
  role_arn   = aws_iam_role.this.arn
  definition = templatefile(var.definition_template_path, var.template_variables)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = var.log_include_execution_data
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}
