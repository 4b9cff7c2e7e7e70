output "function_arns" {
  description = "ARN of each function, by name."
  value       = { for name, fn in aws_lambda_function.this : name => fn.arn }
}

output "function_names" {
  description = "Name of each function, by key."
  value       = { for name, fn in aws_lambda_function.this : name => fn.function_name }
}

output "role_arns" {
  description = "ARN of each function's role, by function name."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "role_names" {
  description = "Name of each function's role, by function name."
  value       = { for name, role in aws_iam_role.this : name => role.name }
}

output "log_group_names" {
  description = "Log group of each function, by function name."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.name }
}

output "handlers" {
  description = "The worker handler each function runs (package.module.function), by function name: its image command, or, behind the tracing entry, its ORIG_HANDLER."
  value       = { for name, fn in var.functions : name => fn.command[0] }
}
