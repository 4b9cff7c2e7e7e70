variable "name" {
  description = "Name of the service, its task family, log group and roles (`mlops-api`, `mlops-ui`)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster (the auto scaling target's resource id)."
  type        = string
}

variable "image_uri" {
  description = "Image of the service's container: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the image's repository (the execution role may pull from it only)."
  type        = string
}

variable "port" {
  description = "Port the service's container listens on."
  type        = number
}

variable "command" {
  description = "Command that replaces the image's CMD (null: the image's)."
  type        = list(string)
  default     = null
}

variable "cpu" {
  description = "CPU units of a task (256 = 0.25 vCPU; Fargate's valid cpu/memory pairs)."
  type        = number
}

variable "memory" {
  description = "Memory of a task in MiB."
  type        = number
}

variable "environment" {
  description = "Plain environment variables of the service's container."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variables ECS reads from Secrets Manager when a task starts, name => secret ARN (the execution role may read exactly these)."
  type        = map(string)
  default     = {}
}

variable "readonly_root_filesystem" {
  description = "Mount the containers' root filesystem read-only (an ephemeral volume is mounted on /tmp)."
  type        = bool
  default     = true
}

variable "sidecars" {
  description = "Further containers of the task (the ADOT collector): name, image, plain environment, command, ports. They log to the service's log group."
  type = list(object({
    name        = string
    image       = string
    essential   = optional(bool, false)
    command     = optional(list(string))
    environment = optional(map(string), {})
    ports       = optional(list(number), [])
  }))
  default = []
}

variable "task_role_name" {
  description = "Name of the task role, what the code calls (null: the task gets no role, it calls no AWS API)."
  type        = string
  default     = null
}

variable "task_policy_json" {
  description = "Inline policy of the task role (with task_role_name)."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of the service's tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (no public IP)."
  type        = list(string)
}

variable "ingress_security_group_id" {
  description = "Security group (the load balancer's) allowed to reach the container port."
  type        = string
}

variable "extra_ingress_security_group_ids" {
  description = "Further security groups allowed to reach the container port, by a name used in the rule's description (the dashboard's tasks calling the API)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (destination of egress_vpc_ports)."
  type        = string
}

variable "egress_vpc_ports" {
  description = "Ports the tasks may reach inside the VPC besides HTTPS (5432: RDS; 8000: the API through Service Connect)."
  type        = list(number)
  default     = []
}

variable "target_group_arn" {
  description = "Target group the service registers its tasks with."
  type        = string
}

variable "service_connect" {
  description = "ECS Service Connect: the namespace, and the name other services reach this one by (null alias: a client only)."
  type = object({
    namespace_arn = string
    dns_name      = optional(string)
  })
  default = null
}

variable "min_count" {
  description = "Tasks always running (and the desired count at creation)."
  type        = number
  default     = 1
}

variable "max_count" {
  description = "Most tasks auto scaling may run."
  type        = number
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation that target tracking keeps the service at."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "ALBRequestCountPerTarget (requests a minute per task) that target tracking keeps the service at."
  type        = number
}

variable "request_count_resource_label" {
  description = "`<load balancer arn suffix>/<target group arn suffix>` of the ALBRequestCountPerTarget metric."
  type        = string
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after a task starts during which failing load balancer health checks are ignored."
  type        = number
  default     = 60
}

variable "log_retention_in_days" {
  description = "Days the tasks' logs are kept."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the log group and the secrets the execution role reads."
  type        = string
}

variable "kms_key_arn_pattern" {
  description = "ARN pattern of the account's keys (`arn:...:key/*`); the alias condition narrows it to the platform's key."
  type        = string
}

variable "kms_key_alias" {
  description = "Alias (`alias/<name>`) of the platform's key (kms:ResourceAliases condition of the execution role)."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
