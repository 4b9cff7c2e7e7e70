variable "identifier" {
  description = "Identifier of the DB instance (and prefix of its parts' names)."
  type        = string
  default     = "mlops-db-production"
}

variable "engine_version" {
  description = "PostgreSQL version (major, or major.minor)."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "Instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_name" {
  description = "Name of the application database."
  type        = string
  default     = "mlops"
}

variable "username" {
  description = "Master user name (its password is managed by RDS in Secrets Manager)."
  type        = string
  default     = "mlopsadmin"
}

variable "allocated_storage" {
  description = "Initial storage (GiB, gp3)."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage auto-scaling ceiling (GiB)."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "A synchronous standby in the second AZ (production: true; dev: false)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days automated backups are kept."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off, apply, then destroy to tear down)."
  type        = bool
  default     = true
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights (encrypted with kms_key_arn)."
  type        = bool
  default     = false
}

variable "log_min_duration_statement_ms" {
  description = "Statements slower than this (ms) are logged."
  type        = number
  default     = 1000
}

variable "master_password_rotation_days" {
  description = "Days between rotations of the RDS-managed master password (null: RDS's default, 7 days)."
  type        = number
  default     = 30
}

variable "vpc_id" {
  description = "VPC of the instance."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the instance (two AZs)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups whose members may connect on 5432, by a name used in the rule description."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts storage, the master secret and Performance Insights."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
