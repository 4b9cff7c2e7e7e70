variable "region" {
  description = "Region of the state bucket (the platform's region)."
  type        = string
  default     = "eu-west-1"
}

variable "github_repository" {
  description = "GitHub repository (`owner/name`) whose workflows may assume the plan and deploy roles (null: no GitHub OIDC roles)."
  type        = string
  default     = null
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC identity provider (false when the account already has one)."
  type        = bool
  default     = true
}

variable "deploy_policy_arns" {
  description = "Managed policies of the deploy role (it creates the whole estate: VPC, RDS, IAM roles ...). Choose them for your account's guardrails."
  type        = list(string)
  default     = []
}

variable "state_noncurrent_days" {
  description = "Days noncurrent versions of the state are kept."
  type        = number
  default     = 90
}
