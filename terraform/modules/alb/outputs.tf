output "arn" {
  description = "ARN of the load balancer: the `signer` of its signed identity header, which the API checks."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch's LoadBalancer dimension)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer: point the certificate's domain name at it (alias or CNAME)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Hosted zone of the load balancer (a Route 53 alias record)."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer (the tasks admit it)."
  value       = aws_security_group.this.id
}

output "target_group_arns" {
  description = "ARN of the API's and the dashboard's target groups."
  value       = { api = aws_lb_target_group.api.arn, ui = aws_lb_target_group.ui.arn }
}

output "target_group_arn_suffixes" {
  description = "ARN suffix of each target group (CloudWatch's TargetGroup dimension, ALBRequestCountPerTarget's label)."
  value       = { api = aws_lb_target_group.api.arn_suffix, ui = aws_lb_target_group.ui.arn_suffix }
}
