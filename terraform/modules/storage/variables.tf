variable "datasets_bucket_name" {
  description = "Name of the bucket of training and evaluation datasets (JSONL)."
  type        = string
}

variable "model_outputs_bucket_name" {
  description = "Name of the bucket of trained models (model.tar.gz, inference results)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts both buckets by default (SSE-KMS with S3 bucket keys)."
  type        = string
}

variable "model_outputs_glacier_after_days" {
  description = "Days after which model outputs move to Glacier."
  type        = number
  default     = 90
}

variable "noncurrent_versions_glacier_after_days" {
  description = "Days after which noncurrent object versions move to Glacier."
  type        = number
  default     = 30
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7
}

variable "attach_deny_insecure_transport_policy" {
  description = "Attach a bucket policy that denies every request not made over TLS (aws:SecureTransport)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow destroying a bucket that still holds objects (for throw-away environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
