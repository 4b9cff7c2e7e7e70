variable "name" {
  description = "Name of the SNS topic."
  type        = string
  default     = "mlops-notifications"
}

variable "kms_master_key_id" {
  description = "KMS key (id, ARN or alias) that encrypts the topic. It must be a customer managed key whose policy lets EventBridge use it: EventBridge cannot publish to a topic encrypted with the AWS managed `alias/aws/sns` key."
  type        = string
}

variable "publisher_source_arns" {
  description = "ARN patterns (ArnLike) of the EventBridge rules allowed to publish to the topic, e.g. the rules of one bus: `arn:aws:events:REGION:ACCOUNT:rule/BUS/*`."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
