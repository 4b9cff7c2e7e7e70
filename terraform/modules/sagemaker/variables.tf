variable "execution_role_name" {
  description = "Name of the training jobs' execution role."
  type        = string
  default     = "mlops-sagemaker-role"
}

variable "read_bucket_arns" {
  description = "Buckets the training jobs read (datasets, base models)."
  type        = list(string)
}

variable "output_bucket_arn" {
  description = "Bucket the training jobs write models and checkpoints to."
  type        = string
}

variable "ecr_repository_arns" {
  description = "Repositories of the training image."
  type        = list(string)
}

variable "kms_key_arn_pattern" {
  description = "ARN pattern of the account's keys (`arn:...:key/*`); the alias condition narrows it to the platform's key."
  type        = string
}

variable "kms_key_alias" {
  description = "Alias (`alias/<name>`) of the platform's key: IAM grants use of the key that carries it (kms:ResourceAliases)."
  type        = string
}

variable "mlflow_tracking_server_arn" {
  description = "ARN of a SageMaker managed MLflow tracking server the jobs log to (null: none)."
  type        = string
  default     = null
}

variable "hub_token_secret_arn" {
  description = "ARN (or ARN pattern) of the Secrets Manager secret holding the Hugging Face token (mlops/hf-token) the jobs read when they start (null: public models only)."
  type        = string
  default     = null
}

variable "progress_event_bus_arn" {
  description = "ARN of the event bus the jobs publish their progress to (run.training_progress, source mlops.training; null: no progress facts)."
  type        = string
  default     = null
}

variable "model_package_groups" {
  description = "Model package groups created up front, name => description (the workflow creates the others)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
