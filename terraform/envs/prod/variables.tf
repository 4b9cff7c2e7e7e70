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

variable "model_source_buckets" {
  description = "More S3 buckets a run's s3:// model_id may name, besides the datasets and model-outputs buckets: the training and evaluation roles may read them, and POST /runs accepts them (MODEL_SOURCE_BUCKETS); any other bucket is a 422 that lists the readable ones."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for b in var.model_source_buckets : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", b))])
    error_message = "model_source_buckets holds S3 bucket names (3-63 lowercase letters, digits, dots and hyphens), not ARNs or s3:// URIs."
  }
}

variable "bedrock_region" {
  description = "Region of the Bedrock judge (null: var.region). us-east-1 by default: the default judge, Mistral Small (24.02), is offered there only (terraform/bedrock_models.json); the evaluation data then leaves var.region - choose a judge offered in var.region to keep it there."
  type        = string
  default     = "us-east-1"
}

# Which Region offers which judge model: one table, terraform/bedrock_models.json. A pair Bedrock does
# not offer fails `make plan` here, before the first evaluation would fail on it.
locals {
  bedrock_models_offered = jsondecode(file("${path.module}/../../bedrock_models.json")).models
  judge_region           = coalesce(var.bedrock_region, var.region)
}

variable "judge_model_id" {
  description = "Bedrock model of the RAGAS judge."
  type        = string
  default     = "mistral.mistral-small-2402-v1:0"

  validation {
    condition     = contains(lookup(local.bedrock_models_offered, var.judge_model_id, [local.judge_region]), local.judge_region)
    error_message = "Bedrock does not offer the judge model ${var.judge_model_id} in ${local.judge_region}; it is offered in: ${join(", ", lookup(local.bedrock_models_offered, var.judge_model_id, []))} (terraform/bedrock_models.json). Set bedrock_region to one of them or choose another judge_model_id."
  }
}

variable "judge_embedding_model_id" {
  description = "Bedrock embedding model of the RAGAS judge (answer relevancy)."
  type        = string
  default     = "amazon.titan-embed-text-v2:0"

  validation {
    condition     = contains(lookup(local.bedrock_models_offered, var.judge_embedding_model_id, [local.judge_region]), local.judge_region)
    error_message = "Bedrock does not offer the embedding model ${var.judge_embedding_model_id} in ${local.judge_region}; it is offered in: ${join(", ", lookup(local.bedrock_models_offered, var.judge_embedding_model_id, []))} (terraform/bedrock_models.json). Set bedrock_region to one of them or choose another judge_embedding_model_id."
  }
}

variable "evaluation_reserved_concurrency" {
  description = "Reserved (and maximum) concurrency of the evaluation function: concurrent evaluations share the judge's Bedrock quota."
  type        = number
  default     = 2
}

variable "training_instance_type" {
  description = "Instance type of a SageMaker training job whose run names none (runs carry their own instance_type, sized by POST /runs; the default is the API's, mlops_contracts.gpu_sizing)."
  type        = string
  default     = "ml.g5.2xlarge"
}

variable "serving_instance_type" {
  description = "Instance type of the model endpoints the deployer creates (a GPU type of mlops_contracts.gpu_sizing's table). An endpoint is always on: see the README's cost table."
  type        = string
  default     = "ml.g5.xlarge"

  validation {
    condition     = can(regex("^ml\\.(g4dn|g5|g6|g6e|p3|p3dn|p4d|p4de|p5|p5e|p5en)\\.[0-9]*x?large$", var.serving_instance_type))
    error_message = "serving_instance_type must be a SageMaker GPU instance type (ml.g5.xlarge, ml.g6e.2xlarge, ...)."
  }
}

variable "serving_instance_count" {
  description = "Instances behind each model endpoint (its minimum: the endpoint never scales below it)."
  type        = number
  default     = 1

  validation {
    condition     = var.serving_instance_count >= 1 && var.serving_instance_count <= 10
    error_message = "serving_instance_count must be between 1 and 10."
  }
}

variable "serving_canary_percent" {
  description = "Share of an endpoint's capacity the new model gets first in a blue/green deployment (the canary), before the full shift."
  type        = number
  default     = 10

  validation {
    condition     = var.serving_canary_percent >= 1 && var.serving_canary_percent <= 50
    error_message = "serving_canary_percent must be between 1 and 50."
  }
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
  description = "Inference container image registered with each candidate model package; empty = the platform's serving image (services/serving) of this deploy's image_tag."
  type        = string
  default     = ""
}

variable "domain_name" {
  description = "Domain name of the platform (the ACM certificate's; point it at the load balancer's `alb_dns_name`): the dashboard, the API and the approval links."
  type        = string
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the load balancer's HTTPS listener (issued for domain_name, in var.region)."
  type        = string
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer (set false, apply, then destroy to tear down)."
  type        = bool
  default     = true
}

# Sign-in of people at the load balancer (authenticate-oidc). The values are in the identity
# provider's discovery document (`<issuer>/.well-known/openid-configuration`): Entra ID, Cognito, Okta ...
variable "oidc_issuer" {
  description = "OIDC issuer of the identity provider (e.g. https://login.microsoftonline.com/<tenant>/v2.0)."
  type        = string
}

variable "oidc_authorization_endpoint" {
  description = "Authorization endpoint of the identity provider."
  type        = string
}

variable "oidc_token_endpoint" {
  description = "Token endpoint of the identity provider."
  type        = string
}

variable "oidc_user_info_endpoint" {
  description = "User-info endpoint of the identity provider."
  type        = string
}

variable "oidc_client_id" {
  description = "Client (application) id of the platform's registration at the identity provider."
  type        = string
}

variable "oidc_client_secret_id" {
  description = "Secrets Manager id (name or ARN) of the registration's client secret, put there by hand before the first apply."
  type        = string
}

variable "oidc_scope" {
  description = "Scopes the sign-in asks for (the group claim the API maps to roles may need one more, e.g. Cognito's `cognito:groups` comes with openid)."
  type        = string
  default     = "openid email profile"
}

variable "oidc_groups_claim" {
  description = "Claim of the signed-in person's groups, which the API maps to roles (Cognito: `cognito:groups`)."
  type        = string
  default     = "groups"
}

variable "oidc_role_groups" {
  description = "Group (as the claim names it; Entra ID sends group object ids) => role of the platform: viewer, operator, approver or admin."
  type        = map(string)
  default = {
    mlops-viewers   = "viewer"
    mlops-operators = "operator"
    mlops-approvers = "approver"
    mlops-admins    = "admin"
  }

  validation {
    condition     = alltrue([for role in values(var.oidc_role_groups) : contains(["viewer", "operator", "approver", "admin"], role)])
    error_message = "oidc_role_groups maps groups to viewer, operator, approver or admin (workers' roles are API keys only)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the platform's own metrics (the API's, through the ADOT collector, and the evaluation's EMF)."
  type        = string
  default     = "MLOps"
}

variable "adot_collector_image" {
  description = "Image of the AWS Distro for OpenTelemetry collector beside the API (public ECR, pinned)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "evaluation_instance_type" {
  description = "GPU instance of the evaluation jobs (SageMaker Processing; EVALUATION_INSTANCE_TYPE). One A10G (24 GB, bf16) holds a 7B candidate in bf16 with batched generation."
  type        = string
  default     = "ml.g5.2xlarge"
}

variable "evaluation_job_timeout_seconds" {
  description = "MaxRuntimeInSeconds of an evaluation job (EVALUATION_JOB_TIMEOUT_SECONDS): inside the workflow's evaluation timeout."
  type        = number
  default     = 3600
}
