output "service_arn" {
  description = "ARN of the service."
  value       = aws_apprunner_service.this.arn
}

output "service_id" {
  description = "ID of the service (CloudWatch's ServiceID dimension)."
  value       = aws_apprunner_service.this.service_id
}

output "service_name" {
  description = "Name of the service."
  value       = aws_apprunner_service.this.service_name
}

output "service_url" {
  description = "HTTPS URL of the service."
  value       = "https://${aws_apprunner_service.this.service_url}"
}

output "instance_role_arn" {
  description = "ARN of the instance role."
  value       = aws_iam_role.instance.arn
}

output "vpc_connector_arn" {
  description = "ARN of the VPC connector the module created (null: none)."
  value       = try(aws_apprunner_vpc_connector.this[0].arn, null)
}

output "vpc_connector_security_group_id" {
  description = "Security group of the VPC connector the module created (null: none)."
  value       = try(aws_security_group.connector[0].id, null)
}
