output "alarm_topic_arn" {
  description = "ARN of the alarm topic."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "Name of the operations dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.threshold : a.alarm_name],
    [aws_cloudwatch_metric_alarm.mlscore_degraded.alarm_name],
  )
}

output "sagemaker_log_group_name" {
  description = "Log group of the SageMaker training jobs."
  value       = aws_cloudwatch_log_group.sagemaker_training.name
}
