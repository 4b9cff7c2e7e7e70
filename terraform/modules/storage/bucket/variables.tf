variable "name" {
  description = "Name of the bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket by default (SSE-KMS with an S3 bucket key)."
  type        = string
}

variable "lifecycle_rules" {
  description = "Lifecycle rules, each on the whole bucket: move current versions to Glacier after `glacier_after_days`, noncurrent versions after `noncurrent_glacier_after_days`, abort incomplete multipart uploads after `abort_incomplete_multipart_upload_days` (each optional)."
  type = list(object({
    id                                     = string
    glacier_after_days                     = optional(number)
    noncurrent_glacier_after_days          = optional(number)
    abort_incomplete_multipart_upload_days = optional(number)
  }))
  default = []
}

variable "attach_deny_insecure_transport_policy" {
  description = "Attach a bucket policy that denies every request not made over TLS (aws:SecureTransport)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds objects (for throw-away environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
