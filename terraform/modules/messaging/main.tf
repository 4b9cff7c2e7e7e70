data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  queue_names = { for key, queue in var.queues : key => coalesce(queue.name, replace(key, "_", "-")) }

  # One entry per (rule, target), keyed "<rule>/<type>/<name>".
  targets = merge([
    for rule, route in var.routes : {
      for target in route.targets : "${rule}/${target.type}/${target.name}" => {
        rule = rule
        type = target.type
        name = target.name
      }
    }
  ]...)

  target_arns = {
    queue         = { for key, queue in aws_sqs_queue.this : key => queue.arn }
    state_machine = var.state_machine_arns
    topic         = var.topic_arns
  }

  state_machine_targets = { for key, target in local.targets : key => target if target.type == "state_machine" }

  # Who may send to each queue: the rules that target it and the topics it subscribes to.
  queue_rule_senders  = { for q in keys(var.queues) : q => [for target in values(local.targets) : target.rule if target.type == "queue" && target.name == q] }
  queue_topic_senders = { for q in keys(var.queues) : q => [for sub in values(var.topic_subscriptions) : sub.topic if sub.queue == q] }
  queues_with_senders = toset([for q in keys(var.queues) : q if length(local.queue_rule_senders[q]) + length(local.queue_topic_senders[q]) > 0])

  arn_prefix            = "arn:${data.aws_partition.current.partition}"
  region_account        = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  bus_rules_arn_pattern = "${local.arn_prefix}:events:${local.region_account}:rule/${var.event_bus_name}/*"
  # Queue ARNs follow from their names; the access policies use them so that each queue is created
  # with its policy in one step (the provider waits for every SQS change to propagate).
  queue_arns        = { for key in keys(var.queues) : key => "${local.arn_prefix}:sqs:${local.region_account}:${var.queue_name_prefix}-${local.queue_names[key]}-queue" }
  delivery_dlq_name = "${var.event_bus_name}-delivery-dlq"
}

################################################################################
# Bus and archive
################################################################################

resource "aws_cloudwatch_event_bus" "this" {
  name = var.event_bus_name
  tags = var.tags
}

resource "aws_cloudwatch_event_archive" "this" {
  name             = "${var.event_bus_name}-archive"
  description      = "Every event of ${var.event_bus_name}, for replay"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
}

################################################################################
# Queues and their dead-letter queues
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = var.queues

  name                       = "${var.queue_name_prefix}-${local.queue_names[each.key]}-dlq"
  message_retention_seconds  = var.dlq_message_retention_seconds
  visibility_timeout_seconds = var.dlq_visibility_timeout_seconds
  sqs_managed_sse_enabled    = true
  tags                       = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each = var.queues

  name                       = "${var.queue_name_prefix}-${local.queue_names[each.key]}-queue"
  visibility_timeout_seconds = each.value.visibility_timeout_seconds
  message_retention_seconds  = each.value.message_retention_seconds
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  policy = contains(local.queues_with_senders, each.key) ? data.aws_iam_policy_document.queue[each.key].json : null
  tags   = var.tags
}

# Events EventBridge could not deliver to a target after its retries.
resource "aws_sqs_queue" "delivery_dlq" {
  name                      = local.delivery_dlq_name
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
  policy                    = data.aws_iam_policy_document.delivery_dlq.json
  tags                      = var.tags
}

data "aws_iam_policy_document" "queue" {
  for_each = local.queues_with_senders

  dynamic "statement" {
    for_each = length(local.queue_rule_senders[each.key]) > 0 ? [1] : []
    content {
      sid       = "EventBridgeRulesSend"
      actions   = ["sqs:SendMessage"]
      resources = [local.queue_arns[each.key]]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for rule in distinct(local.queue_rule_senders[each.key]) : aws_cloudwatch_event_rule.this[rule].arn]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.queue_topic_senders[each.key]) > 0 ? [1] : []
    content {
      sid       = "SnsTopicsSend"
      actions   = ["sqs:SendMessage"]
      resources = [local.queue_arns[each.key]]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for topic in distinct(local.queue_topic_senders[each.key]) : var.topic_arns[topic]]
      }
    }
  }
}

data "aws_iam_policy_document" "delivery_dlq" {
  statement {
    sid       = "EventBridgeRulesOfTheBusDeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = ["${local.arn_prefix}:sqs:${local.region_account}:${local.delivery_dlq_name}"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.bus_rules_arn_pattern]
    }
  }
}

resource "aws_sns_topic_subscription" "this" {
  for_each = var.topic_subscriptions

  topic_arn            = var.topic_arns[each.value.topic]
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.value.queue].arn
  raw_message_delivery = true
}

################################################################################
# Rules and targets (from the routing data)
################################################################################

resource "aws_cloudwatch_event_rule" "this" {
  for_each = var.routes

  name           = each.key
  description    = each.value.description
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = each.value.event_pattern
  state          = each.value.state
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.targets

  rule           = aws_cloudwatch_event_rule.this[each.value.rule].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "${each.value.type}-${each.value.name}"
  arn            = local.target_arns[each.value.type][each.value.name]
  role_arn       = each.value.type == "state_machine" ? aws_iam_role.events_start_executions[0].arn : null

  retry_policy {
    maximum_retry_attempts       = var.target_retry_attempts
    maximum_event_age_in_seconds = var.target_max_event_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.delivery_dlq.arn
  }
}

################################################################################
# Role EventBridge assumes to start state machine executions
################################################################################

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "events_start_executions" {
  count = length(local.state_machine_targets) > 0 ? 1 : 0

  name               = "${var.event_bus_name}-start-executions"
  description        = "EventBridge rules of ${var.event_bus_name} start the state machines they target"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "events_start_executions" {
  count = length(local.state_machine_targets) > 0 ? 1 : 0

  statement {
    actions   = ["states:StartExecution"]
    resources = distinct([for target in values(local.state_machine_targets) : var.state_machine_arns[target.name]])
  }
}

resource "aws_iam_role_policy" "events_start_executions" {
  count = length(local.state_machine_targets) > 0 ? 1 : 0

  name   = "start-executions"
  role   = aws_iam_role.events_start_executions[0].name
  policy = data.aws_iam_policy_document.events_start_executions[0].json
}
