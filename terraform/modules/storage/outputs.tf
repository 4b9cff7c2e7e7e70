output "datasets_bucket_name" {
  description = "Name of the datasets bucket."
  value       = module.datasets.name
}

output "datasets_bucket_arn" {
  description = "ARN of the datasets bucket."
  value       = module.datasets.arn
}

output "model_outputs_bucket_name" {
  description = "Name of the model outputs bucket."
  value       = module.model_outputs.name
}

output "model_outputs_bucket_arn" {
  description = "ARN of the model outputs bucket."
  value       = module.model_outputs.arn
}
