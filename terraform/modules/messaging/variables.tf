variable "event_bus_name" {
  description = "Name of the custom EventBridge bus of the platform."
  type        = string
  default     = "mlops-events"
}

variable "archive_retention_days" {
  description = "Days the bus archive keeps every event for replay (0 = forever)."
  type        = number
  default     = 90
}

variable "queue_name_prefix" {
  description = "Prefix of every queue name: queues are `<prefix>-<name>-queue`, their dead-letter queues `<prefix>-<name>-dlq`."
  type        = string
  default     = "mlops"
}

variable "queues" {
  description = "Work queues by key, each with its dead-letter queue. `name` defaults to the key with `_` replaced by `-`. A message received `max_receive_count` times without being deleted moves to the DLQ."
  type = map(object({
    name                       = optional(string)
    visibility_timeout_seconds = number
    message_retention_seconds  = optional(number, 604800)
    max_receive_count          = optional(number, 3)
  }))
  default = {
    training      = { visibility_timeout_seconds = 3600 }
    evaluation    = { name = "eval", visibility_timeout_seconds = 900 }
    approval      = { visibility_timeout_seconds = 300 }
    run_events    = { name = "run-events", visibility_timeout_seconds = 60 }
    notifications = { visibility_timeout_seconds = 120 }
    claims        = { visibility_timeout_seconds = 60 }
    # the deployer waits for a SageMaker endpoint with heartbeats; its Lambda's timeout is below this
    deployments = { visibility_timeout_seconds = 900 }
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_receive_count >= 1 && q.visibility_timeout_seconds >= 0 && q.visibility_timeout_seconds <= 43200])
    error_message = "Each queue needs max_receive_count >= 1 and a visibility timeout between 0 and 43200 seconds."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long dead-letter queues keep a message (the longest SQS allows: 14 days)."
  type        = number
  default     = 1209600
}

variable "dlq_visibility_timeout_seconds" {
  description = "Visibility timeout of the dead-letter queues."
  type        = number
  default     = 30
}

variable "routes" {
  description = "EventBridge rules on the bus, by rule name: an event pattern (a JSON string) and its targets. A target is `{type, name}`: type `queue` names a key of `queues`, `state_machine` a key of `state_machine_arns`, `topic` a key of `topic_arns`."
  type = map(object({
    description   = optional(string, "")
    event_pattern = string
    state         = optional(string, "ENABLED")
    targets = list(object({
      type = string
      name = string
    }))
  }))
  default = {}

  validation {
    condition     = alltrue(flatten([for r in values(var.routes) : [for t in r.targets : contains(["queue", "state_machine", "topic"], t.type)]]))
    error_message = "A route target's type must be one of: queue, state_machine, topic."
  }
}

variable "state_machine_arns" {
  description = "State machines that routes may start, by name (for targets of type `state_machine`)."
  type        = map(string)
  default     = {}
}

variable "topic_arns" {
  description = "SNS topics that routes may publish to, by name (for targets of type `topic` and for `topic_subscriptions`)."
  type        = map(string)
  default     = {}
}

variable "topic_subscriptions" {
  description = "SQS subscriptions to SNS topics, by key: `topic` is a key of `topic_arns`, `queue` a key of `queues`. Delivery is raw (the queue receives the published message as is)."
  type = map(object({
    topic = string
    queue = string
  }))
  default = {}
}

variable "target_retry_attempts" {
  description = "How many times EventBridge retries delivering an event to a target before it goes to the delivery dead-letter queue."
  type        = number
  default     = 185
}

variable "target_max_event_age_seconds" {
  description = "Maximum age of an event that EventBridge still tries to deliver (60-86400 s)."
  type        = number
  default     = 86400
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
