output "repository_urls" {
  description = "URL of each repository, by name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "ARN of each repository, by name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}
