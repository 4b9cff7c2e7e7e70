# The platform's AWS resources on the local emulator: the same modules as envs/prod, pointed at the
# emulator's endpoint with its fake credentials. Nothing here declares a resource of its own.

provider "aws" {
  #checkov:skip=CKV_AWS_41:these are the emulator's fake credentials (it accepts any), not a real key
  region     = var.region
  access_key = "testing"
  secret_key = "testing"

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch     = var.emulator_endpoint
    events         = var.emulator_endpoint
    iam            = var.emulator_endpoint
    kms            = var.emulator_endpoint
    logs           = var.emulator_endpoint
    s3             = var.emulator_endpoint
    sagemaker      = var.emulator_endpoint
    secretsmanager = var.emulator_endpoint
    sfn            = var.emulator_endpoint
    sns            = var.emulator_endpoint
    sqs            = var.emulator_endpoint
    sts            = var.emulator_endpoint
  }

  default_tags {
    tags = {
      project     = "mlops"
      environment = "local"
      managed_by  = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  event_bus_name = "mlops-events"
  routing        = jsondecode(file("${path.module}/../../routing.json"))
  routes = {
    for name, rule in local.routing.rules : name => {
      description   = rule.description
      event_pattern = jsonencode(rule.event_pattern)
      targets       = rule.targets
    }
  }
}

module "kms" {
  source = "../../modules/kms"

  alias                   = "mlops"
  deletion_window_in_days = 7
  tags                    = var.tags
}

module "notifications" {
  source = "../../modules/notifications"

  name                  = "mlops-notifications"
  kms_master_key_id     = module.kms.key_arn
  publisher_source_arns = ["arn:${local.partition}:events:${var.region}:${local.account_id}:rule/${local.event_bus_name}/*"]
  tags                  = var.tags
}

module "messaging" {
  source = "../../modules/messaging"

  event_bus_name     = local.event_bus_name
  routes             = local.routes
  state_machine_arns = { release = module.orchestration.state_machine_arn }
  topic_arns         = { notifications = module.notifications.topic_arn }
  topic_subscriptions = {
    notifications = { topic = "notifications", queue = "notifications" }
  }
  tags = var.tags
}

module "storage" {
  source = "../../modules/storage"

  datasets_bucket_name      = "mlops-datasets-${local.account_id}"
  model_outputs_bucket_name = "mlops-model-outputs-${local.account_id}"
  kms_key_arn               = module.kms.key_arn
  force_destroy             = true
  tags                      = var.tags

  # The emulator speaks plain HTTP on 127.0.0.1: a TLS-only bucket policy would deny every request.
  attach_deny_insecure_transport_policy = false
}

module "secrets" {
  source = "../../modules/secrets"

  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = 0
  tags                    = var.tags
}

module "orchestration" {
  source = "../../modules/orchestration"

  name                     = "mlops-release-workflow"
  definition_template_path = "${path.module}/../../templates/release_workflow.asl.json"
  template_variables = {
    event_bus_name          = local.event_bus_name
    notifications_topic_arn = module.notifications.topic_arn
    training_queue_url      = module.messaging.queue_urls["training"]
    evaluation_queue_url    = module.messaging.queue_urls["evaluation"]
    approval_queue_url      = module.messaging.queue_urls["approval"]
    datasets_bucket         = module.storage.datasets_bucket_name
    model_outputs_bucket    = module.storage.model_outputs_bucket_name
    # the inference image registered with each candidate (SageMaker needs one; unused locally)
    inference_image                 = var.inference_image
    training_timeout_margin_seconds = 600
    training_heartbeat_seconds      = 600
    evaluation_timeout_seconds      = 3600
    evaluation_heartbeat_seconds    = 600
    approval_timeout_seconds        = var.approval_timeout_seconds
  }
  kms_key_arn                 = module.kms.key_arn
  sqs_queue_arns              = [for key in ["training", "evaluation", "approval"] : module.messaging.queue_arns[key]]
  event_bus_arns              = [module.messaging.event_bus_arn]
  sns_topic_arns              = [module.notifications.topic_arn]
  kms_key_arns_for_publishing = [module.kms.key_arn]
  sagemaker_model_registry_arns = [
    "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:model-package-group/*",
    "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:model-package/*",
  ]
  tags = var.tags
}
