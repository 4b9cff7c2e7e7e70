output "api_url" {
  description = "HTTPS URL of the API."
  value       = module.api.service_url
}

output "ui_url" {
  description = "HTTPS URL of the dashboard."
  value       = module.ui.service_url
}

output "ecr_repository_urls" {
  description = "URL of each image's repository, by repository name."
  value       = module.ecr.repository_urls
}

output "state_machine_arn" {
  description = "ARN of the release state machine."
  value       = module.platform_core.state_machine_arn
}

output "event_bus_arn" {
  description = "ARN of the event bus."
  value       = module.platform_core.event_bus_arn
}

output "database_address" {
  description = "Host name of the PostgreSQL instance."
  value       = module.database.address
}

output "database_secret_arn" {
  description = "ARN of the RDS-managed master user secret."
  value       = module.database.master_user_secret_arn
}

output "secret_arns" {
  description = "ARN of each platform secret (put their values after the first apply)."
  value       = module.platform_core.secret_arns
}

output "alarm_topic_arn" {
  description = "ARN of the alarm topic."
  value       = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  description = "Name of the operations dashboard."
  value       = module.observability.dashboard_name
}
