variable "name" {
  description = "Name of the VPC (and prefix of its parts' names)."
  type        = string
  default     = "vpc-mlops"
}

variable "cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Availability zones of the subnets (two); null = the region's first two available zones."
  type        = list(string)
  default     = null
}

variable "public_subnet_cidrs" {
  description = "CIDR of the public subnet of each AZ (NAT gateways)."
  type        = list(string)
  default     = ["10.0.1.0/24", "10.0.2.0/24"]
}

variable "private_subnet_cidrs" {
  description = "CIDR of the private subnet of each AZ (RDS, the ECS tasks, interface endpoints)."
  type        = list(string)
  default     = ["10.0.10.0/24", "10.0.11.0/24"]
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both AZs (cheaper, not AZ-redundant) instead of one per AZ."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (S3 always has a gateway endpoint)."
  type        = list(string)
  default     = ["secretsmanager", "sagemaker.api", "events", "ecr.api", "ecr.dkr", "bedrock-runtime", "states", "sqs", "logs"]
}

variable "flow_log_group_name" {
  description = "Name of the CloudWatch log group of the VPC flow logs."
  type        = string
  default     = "/aws/vpc/flow-logs/vpc-mlops"
}

variable "flow_log_retention_in_days" {
  description = "Days the flow logs are kept."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow log group."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
