variable "name" {
  description = "Name of the state machine."
  type        = string
  default     = "mlops-release-workflow"
}

variable "definition_template_path" {
  description = "Path of the ASL template (JSON) rendered with `templatefile`."
  type        = string
}

variable "template_variables" {
  description = "Variables of the ASL template (`$${name}` placeholders): resource names and ARNs of the environment."
  type        = map(string)
  default     = {}
}

variable "type" {
  description = "STANDARD (long-running, exactly-once, callbacks) or EXPRESS."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.type)
    error_message = "type must be STANDARD or EXPRESS."
  }
}

variable "log_group_name" {
  description = "Name of the execution log group; null = `/aws/vendedlogs/states/<name>` (the prefix AWS recommends for vended logs)."
  type        = string
  default     = null
}

variable "log_retention_in_days" {
  description = "Days the execution logs are kept."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "Execution log level: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"
}

variable "log_include_execution_data" {
  description = "Log each state's input and output (they can carry task tokens and run data)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the execution log group."
  type        = string
}

variable "tracing_enabled" {
  description = "Send X-Ray traces of the executions."
  type        = bool
  default     = true
}

variable "sqs_queue_arns" {
  description = "Queues the workflow sends work to (sqs:SendMessage, callback pattern)."
  type        = list(string)
  default     = []
}

variable "event_bus_arns" {
  description = "Buses the workflow publishes its facts to (events:PutEvents)."
  type        = list(string)
  default     = []
}

variable "sns_topic_arns" {
  description = "Topics the workflow publishes notifications to (sns:Publish)."
  type        = list(string)
  default     = []
}

variable "kms_key_arns_for_publishing" {
  description = "KMS keys of encrypted topics or queues the workflow writes to (kms:GenerateDataKey, kms:Decrypt)."
  type        = list(string)
  default     = []
}

variable "kms_key_aliases_for_publishing" {
  description = "When set, use of kms_key_arns_for_publishing (e.g. the pattern `arn:...:key/*`) is limited to keys with one of these aliases (`alias/<name>`, kms:ResourceAliases)."
  type        = list(string)
  default     = []
}

variable "sagemaker_model_registry_arns" {
  description = "Model package groups and packages (ARN patterns) the workflow registers and tags candidates in."
  type        = list(string)
  default     = []
}

variable "sagemaker_training_job_arns" {
  description = "Training jobs (ARN patterns) the workflow stops when its wait for one fails or times out."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
