variable "name" {
  description = "Prefix of every resource name (bus `<name>-events`, queues `<name>-<queue>-queue`, key `alias/<name>`, ...)."
  type        = string
  default     = "mlops"
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion of the platform's key takes effect (7-30 days)."
  type        = number
  default     = 30
}

variable "kms_additional_service_principals" {
  description = "AWS services, besides EventBridge, SNS and Step Functions, that encrypt with the platform's key (e.g. CloudWatch for alarms published to an encrypted topic)."
  type        = list(string)
  default     = []
}

variable "secrets" {
  description = "Secrets to create, by key, each with its description (null: the secrets module's default set). Values are put after the apply, never here."
  type = map(object({
    description = string
  }))
  default = null
}

variable "secrets_recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once: throw-away environments only)."
  type        = number
  default     = 30
}

variable "force_destroy_buckets" {
  description = "Allow destroying a bucket that still holds objects (throw-away environments only)."
  type        = bool
  default     = false
}

variable "attach_deny_insecure_transport_policy" {
  description = "Attach bucket policies that deny every request not made over TLS (off only where the endpoint speaks plain HTTP)."
  type        = bool
  default     = true
}

variable "inference_image" {
  description = "Inference container image registered with each candidate model package."
  type        = string
}

variable "evaluation_queue_wait_seconds" {
  description = "How long an evaluation may wait in its queue for a free evaluation worker (their concurrency is bounded) before the workflow gives up on it; added to the evaluation's own hour."
  type        = number
  default     = 3600

  validation {
    condition     = var.evaluation_queue_wait_seconds >= 0 && var.evaluation_queue_wait_seconds <= 86400
    error_message = "evaluation_queue_wait_seconds must be between 0 and 86400 (a day)."
  }
}

variable "approval_timeout_seconds" {
  description = "How long the workflow waits for a human decision before rejecting (72 h)."
  type        = number
  default     = 259200

  validation {
    condition     = var.approval_timeout_seconds >= 1 && var.approval_timeout_seconds <= 31536000
    error_message = "approval_timeout_seconds must be between 1 and 31536000 (a year, Step Functions' maximum)."
  }
}
