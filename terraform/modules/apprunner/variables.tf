variable "name" {
  description = "Name of the service (`mlops-api`, `mlops-ui`)."
  type        = string
}

variable "image_uri" {
  description = "Image to run: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the image's repository (the access role may pull from it only)."
  type        = string
}

variable "port" {
  description = "Port the container listens on."
  type        = number
}

variable "start_command" {
  description = "Command that replaces the image's CMD (null: the image's)."
  type        = string
  default     = null
}

variable "cpu" {
  description = "vCPU of an instance, as App Runner writes it (`0.25 vCPU`, `0.5 vCPU`, `1 vCPU` ...)."
  type        = string
}

variable "memory" {
  description = "Memory of an instance (`0.5 GB`, `1 GB` ...)."
  type        = string
}

variable "min_size" {
  description = "Instances always provisioned."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Most instances auto-scaling may start."
  type        = number
}

variable "max_concurrency" {
  description = "Concurrent requests per instance before auto-scaling adds one."
  type        = number
  default     = 100
}

variable "health_check_path" {
  description = "HTTP path of the health check."
  type        = string
  default     = "/health"
}

variable "environment" {
  description = "Plain environment variables of the service."
  type        = map(string)
  default     = {}
}

variable "environment_secrets" {
  description = "Environment variables read from Secrets Manager at start, name => secret ARN (the instance role must be allowed to read them)."
  type        = map(string)
  default     = {}
}

variable "instance_role_name" {
  description = "Name of the instance role (null: `<name>-role`)."
  type        = string
  default     = null
}

variable "instance_policy_json" {
  description = "Inline policy of the instance role: what the service's code calls (null: no permission at all)."
  type        = string
  default     = null
}

variable "vpc_connector" {
  description = "A VPC connector to create for the service's egress, with its security group (HTTPS out, PostgreSQL to vpc_cidr); null: none."
  type = object({
    name       = string
    vpc_id     = string
    vpc_cidr   = string
    subnet_ids = list(string)
  })
  default = null
}

variable "vpc_connector_arn" {
  description = "An existing VPC connector for the service's egress (null: none, or the one `vpc_connector` creates)."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "X-Ray tracing of the service (the instance role then needs xray:PutTraceSegments)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the service's source copy and logs."
  type        = string
}

variable "kms_key_arn_pattern" {
  description = "ARN pattern of the account's keys (`arn:...:key/*`); the alias condition narrows it to the platform's key."
  type        = string
}

variable "kms_key_alias" {
  description = "Alias (`alias/<name>`) of the platform's key (kms:ResourceAliases condition of the access role)."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
