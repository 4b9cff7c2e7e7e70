# What envs/local and envs/prod share: the platform's key, the notifications topic, the bus with its
# rules and queues, the buckets, the secrets and the release workflow rendered from the one ASL
# template. The environments pass only their differences.
#
# The ARNs the policies name are built from names (see `planned_arns`), so every policy is known at
# plan time: the plan of envs/prod holds each document in full, and tests/infra checks it.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  arn        = "arn:${data.aws_partition.current.partition}"
  region_acc = "${data.aws_region.current.name}:${local.account_id}"

  event_bus_name = "${var.name}-events"
  routing        = jsondecode(file("${path.module}/../../routing.json"))
  routes = {
    for name, rule in local.routing.rules : name => {
      description   = rule.description
      event_pattern = jsonencode(rule.event_pattern)
      targets       = rule.targets
    }
  }

  kms_alias       = "alias/${var.name}"
  kms_key_pattern = "${local.arn}:kms:${local.region_acc}:key/*"

  # Names the messaging module gives its queues (`<prefix>-<name>-queue`, its `queues` default).
  queue_names = { training = "training", evaluation = "eval", approval = "approval", run_events = "run-events", notifications = "notifications", claims = "claims", deployments = "deployments" }
  queue_arns  = { for key, name in local.queue_names : key => "${local.arn}:sqs:${local.region_acc}:${var.name}-${name}-queue" }
  dlq_names   = merge({ for key, name in local.queue_names : key => "${var.name}-${name}-dlq" }, { delivery = "${local.event_bus_name}-delivery-dlq" })

  event_bus_arn     = "${local.arn}:events:${local.region_acc}:event-bus/${local.event_bus_name}"
  topic_name        = "${var.name}-notifications"
  topic_arn         = "${local.arn}:sns:${local.region_acc}:${local.topic_name}"
  state_machine     = "${var.name}-release-workflow"
  state_machine_arn = "${local.arn}:states:${local.region_acc}:stateMachine:${local.state_machine}"

  datasets_bucket      = "${var.name}-datasets-${local.account_id}"
  model_outputs_bucket = "${var.name}-model-outputs-${local.account_id}"

  # Secret ARNs end with 6 random characters.
  secret_arns = { for key, name in module.secrets.secret_names : key => "${local.arn}:secretsmanager:${local.region_acc}:secret:${name}-??????" }

  model_registry_arns = [
    "${local.arn}:sagemaker:${local.region_acc}:model-package-group/*",
    "${local.arn}:sagemaker:${local.region_acc}:model-package/*",
  ]
}

module "kms" {
  source = "../kms"

  alias                   = var.name
  deletion_window_in_days = var.kms_deletion_window_in_days
  service_principals      = concat(["events.amazonaws.com", "sns.amazonaws.com", "states.amazonaws.com"], var.kms_additional_service_principals)
  tags                    = var.tags
}

module "notifications" {
  source = "../notifications"

  name                  = local.topic_name
  kms_master_key_id     = module.kms.key_arn
  publisher_source_arns = ["${local.arn}:events:${local.region_acc}:rule/${local.event_bus_name}/*"]
  tags                  = var.tags
}

module "messaging" {
  source = "../messaging"

  event_bus_name    = local.event_bus_name
  queue_name_prefix = var.name
  routes            = local.routes
  # The name's ARN (known at plan time, so the start-executions policy is too); EventBridge does not
  # need the machine to exist when the target is put.
  state_machine_arns = { release = local.state_machine_arn }
  topic_arns         = { notifications = module.notifications.topic_arn }
  topic_subscriptions = {
    notifications = { topic = "notifications", queue = "notifications" }
  }
  tags = var.tags
}

module "storage" {
  source = "../storage"

  datasets_bucket_name                  = local.datasets_bucket
  model_outputs_bucket_name             = local.model_outputs_bucket
  kms_key_arn                           = module.kms.key_arn
  force_destroy                         = var.force_destroy_buckets
  attach_deny_insecure_transport_policy = var.attach_deny_insecure_transport_policy
  tags                                  = var.tags
}

module "secrets" {
  source = "../secrets"

  name_prefix             = var.name
  secrets                 = var.secrets
  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = var.secrets_recovery_window_in_days
  tags                    = var.tags
}

################################################################################
# The release workflow's timeouts, and the longest training run they leave room for
################################################################################

locals {
  # Its template variables (terraform/templates/release_workflow.asl.json), in seconds.
  workflow_timeouts = {
    # the whole execution: the specification's 7 days
    workflow = 604800
    # the claim of the run (ClaimRun), retried twice on a timeout, after 5 s and 10 s
    claim = 900
    # the training wait: twice the run time (the Spot wait, MaxWaitTimeInSeconds) plus this margin
    training_margin = 600
    # the evaluation wait: a free evaluation worker (concurrency is bounded), then one evaluation
    evaluation = var.evaluation_queue_wait_seconds + 3600
    approval   = var.approval_timeout_seconds
    # the deploy wait: a SageMaker endpoint's creation or canary update (up to an hour) and the smoke test
    deploy = 7200
  }
  # a claim answered at its third try: two timeouts and ClaimRun's Retry pauses first
  # (tests/infra/test_workflow_timeout.py reads them from the template)
  claim_wait_seconds = 3 * local.workflow_timeouts.claim + 5 + 10
  # The largest max_runtime_seconds a run may ask for: what the 7 days leave once the claim, the
  # evaluation, the approval and the deployment have had their full waits, halved, because the
  # training wait is twice the run time plus the margin. POST /runs refuses more (the API's
  # MAX_TRAINING_RUNTIME_SECONDS): such a run would be started and then killed by the workflow's
  # own timeout days later.
  max_training_runtime_seconds = floor((local.workflow_timeouts.workflow - local.claim_wait_seconds - local.workflow_timeouts.evaluation - local.workflow_timeouts.approval - local.workflow_timeouts.deploy - local.workflow_timeouts.training_margin) / 2)
}

module "orchestration" {
  source = "../orchestration"

  name                     = local.state_machine
  definition_template_path = "${path.module}/../../templates/release_workflow.asl.json"
  template_variables = {
    event_bus_name          = local.event_bus_name
    notifications_topic_arn = module.notifications.topic_arn
    training_queue_url      = module.messaging.queue_urls["training"]
    evaluation_queue_url    = module.messaging.queue_urls["evaluation"]
    approval_queue_url      = module.messaging.queue_urls["approval"]
    claims_queue_url        = module.messaging.queue_urls["claims"]
    deployments_queue_url   = module.messaging.queue_urls["deployments"]
    datasets_bucket         = module.storage.datasets_bucket_name
    model_outputs_bucket    = module.storage.model_outputs_bucket_name
    # the inference image registered with each candidate (SageMaker needs one; the emulator runs none)
    inference_image = var.inference_image
    # the execution's TimeoutSeconds, the claim's and the stages' waits (see local.workflow_timeouts)
    workflow_timeout_seconds        = local.workflow_timeouts.workflow
    claim_timeout_seconds           = local.workflow_timeouts.claim
    training_timeout_margin_seconds = local.workflow_timeouts.training_margin
    evaluation_timeout_seconds      = local.workflow_timeouts.evaluation
    approval_timeout_seconds        = local.workflow_timeouts.approval
    deploy_timeout_seconds          = local.workflow_timeouts.deploy
  }
  kms_key_arn                    = module.kms.key_arn
  sqs_queue_arns                 = [for key in ["claims", "training", "evaluation", "approval", "deployments"] : local.queue_arns[key]]
  event_bus_arns                 = [local.event_bus_arn]
  sns_topic_arns                 = [local.topic_arn]
  kms_key_arns_for_publishing    = [local.kms_key_pattern]
  kms_key_aliases_for_publishing = [local.kms_alias]
  sagemaker_model_registry_arns  = local.model_registry_arns
  sagemaker_training_job_arns    = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  tags                           = var.tags
}

################################################################################
# A run's training jobs stop with its workflow
################################################################################

# When the release workflow ends ABORTED, TIMED_OUT or FAILED, AWS puts its status change on the
# account's default bus; this rule starts the stop-training-jobs state machine, which stops the
# run's SageMaker jobs still in progress (a console stop, the workflow's 7-day timeout). The
# workflow's own Catch stops them when only the training wait fails, and the API's cancel stops
# them itself (the state machine leaves a RunCancelled stop alone).
locals {
  stop_training_jobs     = "${var.name}-stop-training-jobs"
  stop_training_jobs_arn = "${local.arn}:states:${local.region_acc}:stateMachine:${local.stop_training_jobs}"
}

module "stop_training_jobs" {
  source = "../orchestration"

  name                     = local.stop_training_jobs
  definition_template_path = "${path.module}/../../templates/stop_training_jobs.asl.json"
  template_variables = {
    event_bus_name = local.event_bus_name
  }
  kms_key_arn                    = module.kms.key_arn
  event_bus_arns                 = [local.event_bus_arn]
  kms_key_arns_for_publishing    = [local.kms_key_pattern]
  kms_key_aliases_for_publishing = [local.kms_alias]
  sagemaker_training_job_arns    = ["${local.arn}:sagemaker:${local.region_acc}:training-job/*"]
  tags                           = var.tags
}

resource "aws_cloudwatch_event_rule" "workflow_ended" {
  name        = "${var.name}-release-workflow-ended"
  description = "The release workflow ended ABORTED, TIMED_OUT or FAILED: stop its run's training jobs"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["ABORTED", "TIMED_OUT", "FAILED"]
      stateMachineArn = [local.state_machine_arn]
    }
  })
  tags = var.tags
}

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
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "start_stop_training_jobs" {
  name               = "${local.stop_training_jobs}-start"
  description        = "The rule on the release workflow's end starts ${local.stop_training_jobs}"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "start_stop_training_jobs" {
  statement {
    actions   = ["states:StartExecution"]
    resources = [local.stop_training_jobs_arn]
  }
}

resource "aws_iam_role_policy" "start_stop_training_jobs" {
  name   = "start-executions"
  role   = aws_iam_role.start_stop_training_jobs.name
  policy = data.aws_iam_policy_document.start_stop_training_jobs.json
}

resource "aws_cloudwatch_event_target" "workflow_ended" {
  rule      = aws_cloudwatch_event_rule.workflow_ended.name
  target_id = "stop-training-jobs"
  arn       = module.stop_training_jobs.state_machine_arn
  role_arn  = aws_iam_role.start_stop_training_jobs.arn

  retry_policy {
    maximum_retry_attempts       = 10
    maximum_event_age_in_seconds = 3600
  }
}
