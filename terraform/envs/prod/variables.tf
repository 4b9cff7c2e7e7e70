variable "region" {
  description = "AWS region of the platform."
  type        = string
  default     = "eu-west-1"
}

variable "image_tag" {
  description = "Tag of every service image in ECR: the commit (`git rev-parse HEAD`) that `make deploy` built and pushed."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag (the deploy passes the commit hash)."
  }
}

variable "name" {
  description = "Prefix of the platform's resource names."
  type        = string
  default     = "mlops"
}

variable "tags" {
  description = "Tags applied to every resource (with the provider's default tags)."
  type        = map(string)
  default     = {}
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per AZ (about 35 USD a month less, not AZ-redundant)."
  type        = bool
  default     = false
}

variable "db_multi_az" {
  description = "Multi-AZ PostgreSQL (a standby in the second AZ)."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (set false, apply, then destroy to tear down)."
  type        = bool
  default     = true
}

variable "bedrock_region" {
  description = "Region of the Bedrock judge (null: var.region)."
  type        = string
  default     = null
}

variable "judge_model_id" {
  description = "Bedrock model of the RAGAS judge."
  type        = string
  default     = "mistral.mistral-small-2402-v1:0"
}

variable "judge_embedding_model_id" {
  description = "Bedrock embedding model of the RAGAS judge (answer relevancy)."
  type        = string
  default     = "amazon.titan-embed-text-v2:0"
}

variable "evaluation_reserved_concurrency" {
  description = "Reserved (and maximum) concurrency of the evaluation function: concurrent evaluations share the judge's Bedrock quota."
  type        = number
  default     = 2
}

variable "training_instance_type" {
  description = "Instance type of the SageMaker training jobs."
  type        = string
  default     = "ml.g4dn.xlarge"
}

variable "training_use_spot" {
  description = "Managed Spot training (about 70% cheaper; jobs may wait for capacity)."
  type        = bool
  default     = true
}

variable "mlflow_tracking_server_arn" {
  description = "ARN of a SageMaker managed MLflow tracking server the training jobs log to (null: none)."
  type        = string
  default     = null
}

variable "approval_timeout_seconds" {
  description = "How long the workflow waits for a human decision before rejecting (72 h)."
  type        = number
  default     = 259200
}

variable "inference_image" {
  description = "Inference container image registered with each candidate model package."
  type        = string
}
