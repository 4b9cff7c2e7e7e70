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

output "rule_arns" {
  description = "ARN of each EventBridge rule, by name."
  value       = module.messaging.rule_arns
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic."
  value       = module.notifications.topic_arn
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

output "secret_arns" {
  description = "ARN of each secret, by key."
  value       = module.secrets.secret_arns
}

output "kms_key_arn" {
  description = "ARN of the platform's KMS key."
  value       = module.kms.key_arn
}

# What the services read from their environment (the devstack writes it to .local/stack.env).
output "service_env" {
  description = "Environment variables of the services, KEY => value."
  value = merge(
    {
      EVENT_BUS_NAME          = module.messaging.event_bus_name
      EVENT_BUS_ARN           = module.messaging.event_bus_arn
      DATASETS_BUCKET         = module.storage.datasets_bucket_name
      MODEL_OUTPUTS_BUCKET    = module.storage.model_outputs_bucket_name
      STATE_MACHINE_ARN       = module.orchestration.state_machine_arn
      NOTIFICATIONS_TOPIC_ARN = module.notifications.topic_arn
      EVENTS_DELIVERY_DLQ_URL = module.messaging.delivery_dlq_url
      KMS_KEY_ARN             = module.kms.key_arn
    },
    { for key, url in module.messaging.queue_urls : "${upper(key)}_QUEUE_URL" => url },
    { for key, arn in module.messaging.queue_arns : "${upper(key)}_QUEUE_ARN" => arn },
    { for key, url in module.messaging.dlq_urls : "${upper(key)}_DLQ_URL" => url },
    { for key, arn in module.secrets.secret_arns : "${upper(replace(key, "-", "_"))}_SECRET_ARN" => arn },
  )
}
