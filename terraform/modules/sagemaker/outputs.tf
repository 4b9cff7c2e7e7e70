output "execution_role_arn" {
  description = "ARN of the training jobs' execution role."
  value       = aws_iam_role.execution.arn
}

output "execution_role_name" {
  description = "Name of the training jobs' execution role."
  value       = aws_iam_role.execution.name
}

output "model_registry_arns" {
  description = "ARN patterns of the Model Registry's package groups and packages in this account and region."
  value       = local.registry_arns
}

output "model_package_group_arns" {
  description = "ARN of each package group created up front."
  value       = { for name, group in aws_sagemaker_model_package_group.this : name => group.arn }
}
