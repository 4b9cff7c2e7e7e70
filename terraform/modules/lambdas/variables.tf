variable "functions" {
  description = <<-EOT
    Functions by name. Each runs `image_uri` with `entry_point`/`command` (the image's runtime interface
    client and the handler), under a role of its own (`role_name`, default `<name>-role`) that gets
    `policy_json` (what the code calls) on top of its logs, X-Ray, the environment key and its queue.
    `sqs_source`: an SQS event-source mapping (ReportBatchItemFailures) on `queue_arn` (the role's grant;
    `event_source_arn`, when given, is the same ARN from the queue resource, so the mapping waits for it). `event_rule`: an EventBridge
    rule that invokes it.
  EOT
  type = map(object({
    description           = string
    image_uri             = string
    entry_point           = list(string)
    command               = list(string)
    working_directory     = optional(string)
    role_name             = optional(string)
    policy_json           = optional(string, "")
    timeout               = number
    memory_size           = optional(number, 512)
    ephemeral_storage_mb  = optional(number, 512)
    reserved_concurrency  = optional(number, -1)
    environment           = optional(map(string), {})
    log_retention_in_days = optional(number, 14)
    sqs_source = optional(object({
      queue_arn                   = string
      event_source_arn            = optional(string)
      batch_size                  = number
      max_batching_window_seconds = optional(number, 0)
      maximum_concurrency         = optional(number, 2)
    }))
    event_rule = optional(object({
      event_pattern         = string
      event_bus_name        = optional(string, "default")
      dead_letter_queue_arn = optional(string)
    }))
  }))

  validation {
    condition     = alltrue([for fn in values(var.functions) : fn.timeout >= 1 && fn.timeout <= 900])
    error_message = "A Lambda function's timeout is between 1 and 900 seconds (longer work runs on Fargate)."
  }

  validation {
    condition     = alltrue([for fn in values(var.functions) : fn.sqs_source == null || try(fn.sqs_source.maximum_concurrency >= 2, true)])
    error_message = "An SQS mapping's maximum_concurrency is at least 2 (Lambda's minimum)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the functions' environment and log groups."
  type        = string
}

variable "kms_key_arn_pattern" {
  description = "ARN pattern of the account's keys (`arn:...:key/*`); the alias condition narrows it to the platform's key."
  type        = string
}

variable "kms_key_alias" {
  description = "Alias (`alias/<name>`) of the platform's key (kms:ResourceAliases condition of the roles)."
  type        = string
}

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: Active or PassThrough."
  type        = string
  default     = "Active"
}

variable "traced_entry_handler" {
  description = <<-EOT
    The images' tracing entry (`package.module.function`), or null. When set, every function's image
    command is this entry and its own handler (`command[0]`) goes to ORIG_HANDLER: the entry traces each
    invocation to the function's X-Ray daemon when tracing_mode is Active, then calls that handler.
  EOT
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
