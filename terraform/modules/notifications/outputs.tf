output "topic_arn" {
  description = "ARN of the notifications topic."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the notifications topic."
  value       = aws_sns_topic.this.name
}
