variable "emulator_endpoint" {
  description = "URL of the AWS emulator every service endpoint points to (moto server or LocalStack), e.g. http://127.0.0.1:4566."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.emulator_endpoint))
    error_message = "emulator_endpoint must be an http(s) URL."
  }
}

variable "region" {
  description = "Region the emulator plays."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Tags applied to every resource (with the provider's default tags)."
  type        = map(string)
  default     = {}
}

variable "approval_timeout_seconds" {
  description = "How long the workflow waits for a human decision before rejecting (72 h; tests use seconds)."
  type        = number
  default     = 259200

  validation {
    condition     = var.approval_timeout_seconds >= 1 && var.approval_timeout_seconds <= 31536000
    error_message = "approval_timeout_seconds must be between 1 and 31536000 (a year, Step Functions' maximum)."
  }
}

variable "inference_image" {
  description = "Container image registered with each model package (the emulator does not run it)."
  type        = string
  default     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-inference:local"
}
