variable "alias" {
  description = "Alias of the key, without the `alias/` prefix."
  type        = string
  default     = "mlops"
}

variable "description" {
  description = "Description of the key."
  type        = string
  default     = "Encrypts the MLOps platform's topics, buckets, secrets and logs"
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion of the key takes effect (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "service_principals" {
  description = "AWS services that encrypt with the key on the platform's behalf (SNS for encrypted topics, EventBridge publishing to them). CloudWatch Logs is granted separately, scoped to this account's log groups."
  type        = list(string)
  default     = ["events.amazonaws.com", "sns.amazonaws.com", "states.amazonaws.com"]
}

variable "enable_cloudwatch_logs" {
  description = "Allow CloudWatch Logs of this account and region to encrypt log groups with the key."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
