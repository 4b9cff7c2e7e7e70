output "event_bus_name" {
  description = "Name of the event bus."
  value       = aws_cloudwatch_event_bus.this.name
}

output "event_bus_arn" {
  description = "ARN of the event bus."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "archive_arn" {
  description = "ARN of the bus archive."
  value       = aws_cloudwatch_event_archive.this.arn
}

output "queue_urls" {
  description = "URL of each work queue, by key."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.url }
}

output "queue_arns" {
  description = "ARN of each work queue, by key."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.arn }
}

output "queue_names" {
  description = "Name of each work queue, by key."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.name }
}

output "dlq_urls" {
  description = "URL of each work queue's dead-letter queue, by key."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.url }
}

output "dlq_arns" {
  description = "ARN of each work queue's dead-letter queue, by key."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.arn }
}

output "delivery_dlq_url" {
  description = "URL of the queue that receives events EventBridge could not deliver."
  value       = aws_sqs_queue.delivery_dlq.url
}

output "delivery_dlq_arn" {
  description = "ARN of the queue that receives events EventBridge could not deliver."
  value       = aws_sqs_queue.delivery_dlq.arn
}

output "rule_arns" {
  description = "ARN of each rule, by name."
  value       = { for name, rule in aws_cloudwatch_event_rule.this : name => rule.arn }
}

output "events_role_arn" {
  description = "ARN of the role EventBridge assumes to start state machine executions (null without such targets)."
  value       = try(aws_iam_role.events_start_executions[0].arn, null)
}
