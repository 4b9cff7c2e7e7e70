output "event_bus_name" {
  description = "Name of the event bus."
  value       = module.platform_core.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of the event bus."
  value       = module.platform_core.event_bus_arn
}

output "queue_urls" {
  description = "URL of each work queue, by key."
  value       = module.platform_core.queue_urls
}

output "queue_arns" {
  description = "ARN of each work queue, by key."
  value       = module.platform_core.queue_arns
}

output "dlq_urls" {
  description = "URL of each work queue's dead-letter queue, by key."
  value       = module.platform_core.dlq_urls
}

output "dlq_arns" {
  description = "ARN of each work queue's dead-letter queue, by key."
  value       = module.platform_core.dlq_arns
}

output "rule_arns" {
  description = "ARN of each EventBridge rule, by name."
  value       = module.platform_core.rule_arns
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic."
  value       = module.platform_core.notifications_topic_arn
}

output "datasets_bucket" {
  description = "Name of the datasets bucket."
  value       = module.platform_core.datasets_bucket
}

output "model_outputs_bucket" {
  description = "Name of the model outputs bucket."
  value       = module.platform_core.model_outputs_bucket
}

output "state_machine_arn" {
  description = "ARN of the release state machine."
  value       = module.platform_core.state_machine_arn
}

output "secret_arns" {
  description = "ARN of each secret, by key."
  value       = module.platform_core.secret_arns
}

output "kms_key_arn" {
  description = "ARN of the platform's KMS key."
  value       = module.platform_core.kms_key_arn
}

# What the services read from their environment (the devstack writes it to .local/stack.env).
output "service_env" {
  description = "Environment variables of the services, KEY => value."
  value = merge(
    {
      EVENT_BUS_NAME          = module.platform_core.event_bus_name
      EVENT_BUS_ARN           = module.platform_core.event_bus_arn
      DATASETS_BUCKET         = module.platform_core.datasets_bucket
      MODEL_OUTPUTS_BUCKET    = module.platform_core.model_outputs_bucket
      STATE_MACHINE_ARN       = module.platform_core.state_machine_arn
      NOTIFICATIONS_TOPIC_ARN = module.platform_core.notifications_topic_arn
      EVENTS_DELIVERY_DLQ_URL = module.platform_core.delivery_dlq_url
      KMS_KEY_ARN             = module.platform_core.kms_key_arn
      # the API's bound on a run's max_runtime_seconds: what the release workflow's 7 days can hold
      MAX_TRAINING_RUNTIME_SECONDS = tostring(module.platform_core.max_training_runtime_seconds)
    },
    { for key, url in module.platform_core.queue_urls : "${upper(key)}_QUEUE_URL" => url },
    { for key, arn in module.platform_core.queue_arns : "${upper(key)}_QUEUE_ARN" => arn },
    { for key, url in module.platform_core.dlq_urls : "${upper(key)}_DLQ_URL" => url },
    { for key, arn in module.platform_core.secret_arns : "${upper(replace(key, "-", "_"))}_SECRET_ARN" => arn },
  )
}
