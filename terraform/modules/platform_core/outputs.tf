output "kms_key_arn" {
  description = "ARN of the platform's KMS key."
  value       = module.kms.key_arn
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic."
  value       = module.notifications.topic_arn
}

output "event_bus_name" {
  description = "Name of the event bus."
  value       = module.messaging.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of the event bus."
  value       = module.messaging.event_bus_arn
}

output "queue_urls" {
  description = "URL of each work queue, by key."
  value       = module.messaging.queue_urls
}

output "queue_arns" {
  description = "ARN of each work queue, by key."
  value       = module.messaging.queue_arns
}

output "dlq_urls" {
  description = "URL of each work queue's dead-letter queue, by key."
  value       = module.messaging.dlq_urls
}

output "dlq_arns" {
  description = "ARN of each work queue's dead-letter queue, by key."
  value       = module.messaging.dlq_arns
}

output "delivery_dlq_url" {
  description = "URL of the queue that receives the events EventBridge could not deliver."
  value       = module.messaging.delivery_dlq_url
}

output "rule_arns" {
  description = "ARN of each EventBridge rule, by name."
  value       = module.messaging.rule_arns
}

output "datasets_bucket" {
  description = "Name of the datasets bucket."
  value       = module.storage.datasets_bucket_name
}

output "model_outputs_bucket" {
  description = "Name of the model outputs bucket."
  value       = module.storage.model_outputs_bucket_name
}

output "state_machine_arn" {
  description = "ARN of the release state machine."
  value       = module.orchestration.state_machine_arn
}

output "workflow_timeouts" {
  description = "The release workflow's timeouts in seconds, as its template gets them: workflow (the execution's), claim (each of ClaimRun's three tries), training_margin (added to twice the run time), evaluation, approval, deploy."
  value       = local.workflow_timeouts
}

output "max_training_runtime_seconds" {
  description = "The largest max_runtime_seconds a run may ask for (the API's MAX_TRAINING_RUNTIME_SECONDS): the workflow's timeout less the claim's, evaluation's, approval's and deploy's waits and the training margin, halved (the training wait is twice the run time)."
  value       = local.max_training_runtime_seconds

  precondition {
    condition     = local.max_training_runtime_seconds >= 3600
    error_message = "The release workflow's 7 days leave less than an hour of training (the default max_runtime_seconds) once the claim, evaluation, approval and deploy waits are counted: shorten approval_timeout_seconds or evaluation_queue_wait_seconds."
  }
}

output "secret_arns" {
  description = "ARN of each secret, by key."
  value       = module.secrets.secret_arns
}

output "names" {
  description = "Names of the resources, known at plan time: event_bus, notifications_topic, state_machine, datasets_bucket, model_outputs_bucket, kms_alias (`alias/<name>`), dead_letter_queues (by queue key, and `delivery` for the bus's)."
  value = {
    event_bus            = local.event_bus_name
    notifications_topic  = local.topic_name
    state_machine        = local.state_machine
    datasets_bucket      = local.datasets_bucket
    model_outputs_bucket = local.model_outputs_bucket
    kms_alias            = local.kms_alias
    dead_letter_queues   = local.dlq_names
  }
}

output "planned_arns" {
  description = "ARNs built from the names, known at plan time, for policies: event_bus, notifications_topic, state_machine, datasets_bucket, model_outputs_bucket, queues (by key), secrets (by key, with the `-??????` suffix pattern), kms_keys (this account's keys: pair it with the alias) and model_registry (package groups and packages)."
  value = {
    event_bus            = local.event_bus_arn
    notifications_topic  = local.topic_arn
    state_machine        = local.state_machine_arn
    datasets_bucket      = "${local.arn}:s3:::${local.datasets_bucket}"
    model_outputs_bucket = "${local.arn}:s3:::${local.model_outputs_bucket}"
    queues               = local.queue_arns
    secrets              = local.secret_arns
    kms_keys             = local.kms_key_pattern
    model_registry       = local.model_registry_arns
  }
}
