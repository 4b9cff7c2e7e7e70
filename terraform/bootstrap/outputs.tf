output "state_bucket" {
  description = "Name of the state bucket (backend.hcl's `bucket`)."
  value       = aws_s3_bucket.state.bucket
}

output "backend_config" {
  description = "The content of terraform/envs/prod/backend.hcl."
  value       = <<-EOT
    bucket       = "${aws_s3_bucket.state.bucket}"
    key          = "${local.state_key}"
    region       = "${var.region}"
    encrypt      = true
    kms_key_id   = "${aws_kms_key.state.arn}"
    use_lockfile = true
  EOT
}

output "github_role_arns" {
  description = "ARN of the GitHub Actions roles (repository variables AWS_PLAN_ROLE_ARN and AWS_DEPLOY_ROLE_ARN)."
  value       = { for key, role in aws_iam_role.github : key => role.arn }
}
