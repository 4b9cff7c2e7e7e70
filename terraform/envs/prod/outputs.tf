output "api_url" {
  description = "HTTPS URL of the API (API keys in X-API-Key) and of the dashboard (people sign in)."
  value       = local.public_url
}

output "ui_url" {
  description = "HTTPS URL of the dashboard."
  value       = local.public_url
}

output "alb_dns_name" {
  description = "DNS name of the load balancer: point domain_name at it (Route 53 alias or CNAME)."
  value       = module.alb.dns_name
}

output "alb_arn" {
  description = "ARN of the load balancer (the signer of the identity header the API checks)."
  value       = module.alb.arn
}

# What `make deploy` (scripts/deploy.sh) needs to run the migration task before the API's service updates.
output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_services" {
  description = "Name of the API's and the dashboard's ECS services."
  value       = { api = module.api.service_name, ui = module.ui.service_name }
}

output "migrate_task_definition" {
  description = "ARN of the one-off migration task's task definition (this commit's API image)."
  value       = aws_ecs_task_definition.migrate.arn
}

output "migrate_network_configuration" {
  description = "`aws ecs run-task --network-configuration` of the migration: the private subnets, the API's security group (PostgreSQL)."
  value = jsonencode({
    awsvpcConfiguration = {
      subnets        = module.network.private_subnet_ids
      securityGroups = [module.api.security_group_id]
      assignPublicIp = "DISABLED"
    }
  })
}

output "ecr_repository_urls" {
  description = "URL of each image's repository, by repository name."
  value       = module.ecr.repository_urls
}

output "state_machine_arn" {
  description = "ARN of the release state machine."
  value       = module.platform_core.state_machine_arn
}

output "release_workflow_timeouts" {
  description = "The release workflow's timeouts in seconds (modules/platform_core), and max_training_runtime_seconds, the longest run POST /runs accepts (the API's MAX_TRAINING_RUNTIME_SECONDS)."
  value       = merge(module.platform_core.workflow_timeouts, { max_training_runtime_seconds = module.platform_core.max_training_runtime_seconds })
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

output "lambda_handlers" {
  description = "The worker handler each Lambda function runs behind the tracing entry (its ORIG_HANDLER), by function name."
  value       = merge(module.lambdas.handlers, module.evaluation_completion.handlers)
}
