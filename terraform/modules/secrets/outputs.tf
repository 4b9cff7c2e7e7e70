output "secret_arns" {
  description = "ARN of each secret, by key."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.arn }
}

output "secret_names" {
  description = "Name of each secret, by key."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.name }
}
