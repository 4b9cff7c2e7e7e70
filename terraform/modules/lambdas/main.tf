# The platform's Lambda functions, each a container image (the worker's image, run through
# awslambdaric) with a role of its own: the module grants each role its log group, X-Ray, the key of
# its environment and, for an SQS-triggered function, its queue; the caller adds what the code calls.
# SQS event-source mappings report partial batch failures (ReportBatchItemFailures): a failed record
# comes back alone and moves to the queue's DLQ after the redrive policy's receives.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  region_acc = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  log_groups = { for name, fn in var.functions : name => "${local.arn_prefix}:logs:${local.region_acc}:log-group:/aws/lambda/${name}" }
  sqs_fns    = { for name, fn in var.functions : name => fn if fn.sqs_source != null }
  event_fns  = { for name, fn in var.functions : name => fn if fn.event_rule != null }
  # the tracing entry's settings (docs/decisions/0019-platform-metrics-and-traces.md): the function's
  # own handler, and spans on only where Lambda runs the X-Ray daemon (Active)
  traced = {
    for name, fn in var.functions : name => var.traced_entry_handler == null ? {} : {
      ORIG_HANDLER        = fn.command[0]
      OTEL_TRACES_ENABLED = tostring(var.tracing_mode == "Active")
      OTEL_SERVICE_NAME   = name
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:14 days as in the platform's log retention table (the runs' record is the API database)
  for_each = var.functions

  name              = "/aws/lambda/${each.key}"
  retention_in_days = each.value.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Roles
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = var.functions

  name               = coalesce(each.value.role_name, "${each.key}-role")
  description        = "Lambda function ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "baseline" {
  for_each = var.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_groups[each.key]}:*"]
  }

  # X-Ray's write actions have no resource-level permissions (AWS documents "*").
  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn_pattern]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = [var.kms_key_alias]
    }
  }

  dynamic "statement" {
    for_each = each.value.sqs_source == null ? [] : [each.value.sqs_source.queue_arn]
    content {
      sid       = "ConsumeOwnQueue"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "this" {
  for_each = var.functions

  source_policy_documents = compact([data.aws_iam_policy_document.baseline[each.key].json, each.value.policy_json])
}

resource "aws_iam_role_policy" "this" {
  for_each = var.functions

  name   = "function"
  role   = aws_iam_role.this[each.key].name
  policy = data.aws_iam_policy_document.this[each.key].json
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_115:reserved concurrency is set where it protects a quota (the evaluation's Bedrock judge); the SQS mappings' maximum_concurrency bounds the others without taking from the account's pool
  #checkov:skip=CKV_AWS_116:SQS-triggered functions fail records back to their queue, whose redrive policy moves them to the queue's DLQ; EventBridge-triggered ones have a DLQ on the rule target
  #checkov:skip=CKV_AWS_117:the functions call only AWS APIs and the API's public HTTPS URL; they reach no resource inside the VPC
  #checkov:skip=CKV_AWS_272:code signing applies to .zip packages; these are container images from the platform's scanned, immutable ECR repositories
  for_each = var.functions

  function_name                  = each.key
  description                    = each.value.description
  role                           = aws_iam_role.this[each.key].arn
  package_type                   = "Image"
  image_uri                      = each.value.image_uri
  architectures                  = ["x86_64"]
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_size
  reserved_concurrent_executions = each.value.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  image_config {
    entry_point       = each.value.entry_point
    command           = var.traced_entry_handler == null ? each.value.command : [var.traced_entry_handler]
    working_directory = each.value.working_directory
  }

  ephemeral_storage {
    size = each.value.ephemeral_storage_mb
  }

  environment {
    variables = merge(each.value.environment, local.traced[each.key])
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.sqs_fns

  function_name                      = aws_lambda_function.this[each.key].arn
  event_source_arn                   = coalesce(each.value.sqs_source.event_source_arn, each.value.sqs_source.queue_arn)
  batch_size                         = each.value.sqs_source.batch_size
  maximum_batching_window_in_seconds = each.value.sqs_source.max_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.sqs_source.maximum_concurrency
  }
}

################################################################################
# EventBridge triggers (e.g. SageMaker's "Training Job State Change" on the default bus)
################################################################################

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.event_fns

  name           = "${each.key}-trigger"
  description    = "Invokes ${each.key}"
  event_bus_name = each.value.event_rule.event_bus_name
  event_pattern  = each.value.event_rule.event_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.event_fns

  rule           = aws_cloudwatch_event_rule.this[each.key].name
  event_bus_name = each.value.event_rule.event_bus_name
  target_id      = "lambda-${each.key}"
  arn            = aws_lambda_function.this[each.key].arn

  retry_policy {
    maximum_retry_attempts       = 185
    maximum_event_age_in_seconds = 86400
  }

  dynamic "dead_letter_config" {
    for_each = each.value.event_rule.dead_letter_queue_arn == null ? [] : [each.value.event_rule.dead_letter_queue_arn]
    content {
      arn = dead_letter_config.value
    }
  }
}

resource "aws_lambda_permission" "events" {
  for_each = local.event_fns

  statement_id  = "AllowEventBridgeRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this[each.key].arn
}
