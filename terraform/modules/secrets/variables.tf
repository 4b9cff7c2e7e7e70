variable "name_prefix" {
  description = "Prefix of every secret name (the secrets are `<prefix>/<key>`)."
  type        = string
  default     = "mlops"
}

variable "secrets" {
  description = "Secrets to create, by key: a description for each. Values are never set here: they are put by the operator (or the database's managed rotation) after the apply, so none is ever in code or state."
  type = map(object({
    description = string
  }))
  # null (a caller passing its own optional input through) means this default
  nullable = false
  default = {
    database = {
      description = "PostgreSQL connection of the API: JSON {host, port, username, password, dbname}"
    }
    teams-webhook = {
      description = "Incoming webhook URL of the Teams channel that receives the approval cards"
    }
    api-bootstrap-key = {
      description = "First admin API key of the platform, used once to create the others"
    }
    approval-signing-key = {
      description = "Key (>= 32 characters) that signs the single-use approval links"
    }
    hf-token = {
      description = "Hugging Face token (read access) of gated and private base models, read by the training jobs when they start"
    }
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secrets."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once: throw-away environments only)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
