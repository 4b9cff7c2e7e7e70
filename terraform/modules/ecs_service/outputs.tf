output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the task definition (family:revision) the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "security_group_id" {
  description = "Security group of the service's tasks."
  value       = aws_security_group.tasks.id
}

output "execution_role_arn" {
  description = "ARN of the execution role (image pull, logs, secrets)."
  value       = aws_iam_role.execution.arn
}

output "execution_role_name" {
  description = "Name of the execution role."
  value       = aws_iam_role.execution.name
}

output "task_role_arn" {
  description = "ARN of the task role (null: none)."
  value       = try(aws_iam_role.task[0].arn, null)
}

output "log_group_name" {
  description = "Log group of the service's containers."
  value       = aws_cloudwatch_log_group.this.name
}
