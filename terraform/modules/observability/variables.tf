variable "name_prefix" {
  description = "Prefix of the alarms', rule's and dashboard's names."
  type        = string
  default     = "mlops"
}

variable "alarm_topic_name" {
  description = "Name of the SNS topic the alarms notify (subscribe email addresses or AWS Chatbot to it)."
  type        = string
  default     = "mlops-alarms"
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic (each confirms by email)."
  type        = list(string)
  default     = []
}

variable "dead_letter_queues" {
  description = "Dead-letter queues watched by the `DLQ not empty` alarm, key => queue name."
  type        = map(string)
}

variable "state_machine_arn" {
  description = "ARN of the release state machine (failed, timed out and aborted executions alarm)."
  type        = string
}

variable "lambda_functions" {
  description = "Lambda functions whose errors and duration alarm, name => the duration (ms) that alarms."
  type = map(object({
    duration_alarm_ms = number
  }))
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch's LoadBalancer dimension)."
  type        = string
}

variable "target_groups" {
  description = "Target groups whose 5xx and unhealthy tasks alarm, name => ARN suffix (CloudWatch's TargetGroup dimension)."
  type        = map(string)
}

variable "target_5xx_threshold" {
  description = "5xx answers of a target group's tasks in 5 minutes above which it alarms."
  type        = number
  default     = 5
}

variable "outbox_metrics" {
  description = "Where the API's outbox figures land in CloudWatch (the ADOT collector's EMF): namespace and dimensions; null: no outbox alarms."
  type = object({
    namespace  = string
    dimensions = map(string)
  })
  default = null
}

variable "outbox_backlog_threshold" {
  description = "Unpublished outbox events above which the backlog alarms."
  type        = number
  default     = 100
}

variable "outbox_age_threshold_seconds" {
  description = "Age (s) of the oldest unpublished outbox event above which it alarms (the relay retries with a backoff of at most 30 s)."
  type        = number
  default     = 300
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the platform's custom metrics (EMF)."
  type        = string
  default     = "MLOps"
}

variable "mlscore_alarm_threshold" {
  description = "Average MLScore below which the `MLScore degraded` alarm fires."
  type        = number
  default     = 0.5
}

variable "sagemaker_log_retention_in_days" {
  description = "Days the SageMaker training jobs' logs are kept."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the alarm topic and the log group."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
