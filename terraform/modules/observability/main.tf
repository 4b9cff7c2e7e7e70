# Operations (seed section 14): the alarms of the seed's table to an alarm topic, the SageMaker
# training jobs' log group, failed training jobs to the alarm topic, and the operations dashboard.
# (The Lambda functions' and the state machine's log groups belong to the modules that create them.)

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  region        = data.aws_region.current.name
  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_log_group" "sagemaker_training" {
  #checkov:skip=CKV_AWS_338:30 days as in the platform's log retention table; models and metrics are kept in S3 and the registry
  name              = "/aws/sagemaker/TrainingJobs"
  retention_in_days = var.sagemaker_log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Alarm topic
################################################################################

resource "aws_sns_topic" "alarms" {
  name              = var.alarm_topic_name
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alarms" {
  statement {
    sid       = "AccountManagesTheTopic"
    actions   = ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "AWS"
      identifiers = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsAndEventBridgeRulesPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Alarms (the seed's table)
################################################################################

# One table, one resource: every threshold alarm of the seed's table differs only in its metric,
# dimensions, statistic and threshold (5-minute periods, one period, missing data is not a breach).
locals {
  threshold_alarms = merge(
    { for key, queue in var.dead_letter_queues : "${var.name_prefix}-dlq-not-empty-${key}" => {
      description = "Messages wait in the dead-letter queue ${queue}: inspect them, fix the cause, redrive"
      namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum"
      dimensions  = { QueueName = queue }, threshold = 0, notify_ok = true
    } },
    { for metric in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
      "${var.name_prefix}-workflow-${lower(trimprefix(metric, "Executions"))}" => {
        description = "A release workflow execution ended ${lower(trimprefix(metric, "Executions"))}"
        namespace   = "AWS/States", metric = metric, statistic = "Sum"
        dimensions  = { StateMachineArn = var.state_machine_arn }, threshold = 0, notify_ok = false
    } },
    { for name, fn in var.lambda_functions : "${var.name_prefix}-lambda-errors-${name}" => {
      description = "The Lambda function ${name} failed invocations"
      namespace   = "AWS/Lambda", metric = "Errors", statistic = "Sum"
      dimensions  = { FunctionName = name }, threshold = 0, notify_ok = false
    } },
    { for name, fn in var.lambda_functions : "${var.name_prefix}-lambda-duration-${name}" => {
      description = "The Lambda function ${name} ran longer than ${fn.duration_alarm_ms} ms (close to its timeout)"
      namespace   = "AWS/Lambda", metric = "Duration", statistic = "Maximum"
      dimensions  = { FunctionName = name }, threshold = fn.duration_alarm_ms, notify_ok = false
    } },
    { for name, suffix in var.target_groups : "${var.name_prefix}-target-5xx-${name}" => {
      description = "The ${name} tasks answered more than ${var.target_5xx_threshold} 5xx in 5 minutes"
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", statistic = "Sum"
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = suffix }, threshold = var.target_5xx_threshold, notify_ok = false
    } },
    { for name, suffix in var.target_groups : "${var.name_prefix}-no-healthy-${name}" => {
      description = "The ${name} target group has unhealthy tasks (a deployment rolling back, or tasks failing their health checks)"
      namespace   = "AWS/ApplicationELB", metric = "UnHealthyHostCount", statistic = "Maximum"
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = suffix }, threshold = 0, notify_ok = true
    } },
    # The outbox (docs/decisions/0006-transactional-outbox.md): events the relay has not put on the
    # bus yet. The API's /metrics, scraped by the ADOT collector beside it (EMF).
    var.outbox_metrics == null ? {} : {
      "${var.name_prefix}-outbox-backlog" = {
        description = "More than ${var.outbox_backlog_threshold} outbox events wait for the relay: the bus refuses them or the relay is stuck"
        namespace   = var.outbox_metrics.namespace, metric = "mlops_outbox_backlog", statistic = "Maximum"
        dimensions  = var.outbox_metrics.dimensions, threshold = var.outbox_backlog_threshold, notify_ok = true
      }
      "${var.name_prefix}-outbox-oldest-age" = {
        description = "The oldest unpublished outbox event is older than ${var.outbox_age_threshold_seconds} s: events are stuck before the bus"
        namespace   = var.outbox_metrics.namespace, metric = "mlops_outbox_oldest_age_seconds", statistic = "Maximum"
        dimensions  = var.outbox_metrics.dimensions, threshold = var.outbox_age_threshold_seconds, notify_ok = true
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "threshold" {
  for_each = local.threshold_alarms

  alarm_name          = each.key
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = each.value.notify_ok ? local.alarm_actions : null
  tags                = var.tags
}

# The evaluation worker publishes MLScore (EMF, namespace MLOps, dimensions service, ModelName,
# Judge); a Metrics Insights query averages it over every model, whatever their names.
resource "aws_cloudwatch_metric_alarm" "mlscore_degraded" {
  alarm_name          = "${var.name_prefix}-mlscore-degraded"
  alarm_description   = "The average MLScore of recent evaluations fell below ${var.mlscore_alarm_threshold}"
  evaluation_periods  = 1
  threshold           = var.mlscore_alarm_threshold
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "mlscore"
    label       = "MLScore (average)"
    expression  = "SELECT AVG(MLScore) FROM SCHEMA(\"${var.metrics_namespace}\", Judge, ModelName, service)"
    period      = 3600
    return_data = true
  }
}

# Failed training jobs (seed: "Training job échoué"): SageMaker's state change events, on the
# default bus, to the alarm topic. Only the platform's jobs (tag project=mlops).
resource "aws_cloudwatch_event_rule" "training_failed" {
  name        = "${var.name_prefix}-training-job-failed"
  description = "A SageMaker training job of the platform failed"
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Training Job State Change"]
    detail = {
      TrainingJobStatus = ["Failed"]
      Tags              = { project = ["mlops"] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "training_failed" {
  rule      = aws_cloudwatch_event_rule.training_failed.name
  target_id = "alarm-topic"
  arn       = aws_sns_topic.alarms.arn
}

################################################################################
# Dashboard (seed section 14.4)
################################################################################

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-operations"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 8, height = 6
        properties = {
          title   = "Release workflow executions"
          region  = local.region
          stat    = "Sum"
          period  = 3600
          view    = "timeSeries"
          metrics = [for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] : ["AWS/States", m, "StateMachineArn", var.state_machine_arn]]
        }
      },
      {
        type = "metric", x = 8, y = 0, width = 8, height = 6
        properties = {
          title   = "MLScore (average, all models)"
          region  = local.region
          period  = 3600
          view    = "timeSeries"
          metrics = [[{ id = "mlscore", expression = "SELECT AVG(MLScore) FROM SCHEMA(\"${var.metrics_namespace}\", Judge, ModelName, service)", label = "MLScore" }]]
        }
      },
      {
        type = "metric", x = 16, y = 0, width = 8, height = 6
        properties = {
          title   = "Evaluations passed / errors"
          region  = local.region
          period  = 86400
          view    = "singleValue"
          metrics = [[{ id = "passed", expression = "SELECT SUM(EvaluationPassed) FROM SCHEMA(\"${var.metrics_namespace}\", Judge, ModelName, service)", label = "passed" }], [{ id = "errors", expression = "SELECT SUM(EvaluationErrors) FROM SCHEMA(\"${var.metrics_namespace}\", Judge, ModelName, service)", label = "errors" }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Lambda duration (p95, ms)"
          region  = local.region
          stat    = "p95"
          period  = 300
          view    = "timeSeries"
          metrics = [for name in keys(var.lambda_functions) : ["AWS/Lambda", "Duration", "FunctionName", name]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Dead-letter queues (messages)"
          region  = local.region
          stat    = "Maximum"
          period  = 300
          view    = "timeSeries"
          metrics = [for name in values(var.dead_letter_queues) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 24, height = 6
        properties = {
          title   = "Load balancer requests and target 5xx"
          region  = local.region
          stat    = "Sum"
          period  = 300
          view    = "timeSeries"
          metrics = flatten([for name, suffix in var.target_groups : [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.load_balancer_arn_suffix, "TargetGroup", suffix], ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.load_balancer_arn_suffix, "TargetGroup", suffix]]])
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 24, height = 6
        properties = {
          title   = "Outbox backlog (events) and oldest age (s)"
          region  = local.region
          stat    = "Maximum"
          period  = 300
          view    = "timeSeries"
          metrics = var.outbox_metrics == null ? [] : [for m in ["mlops_outbox_backlog", "mlops_outbox_oldest_age_seconds"] : concat([var.outbox_metrics.namespace, m], flatten([for k, v in var.outbox_metrics.dimensions : [k, v]]))]
        }
      },
    ]
  })
}
