# The platform on AWS: the modules of envs/local (bus, queues, topic, buckets, secrets, release
# workflow from the same ASL template) plus network, RDS, ECR, App Runner, Lambda, SageMaker and
# CloudWatch. IAM: one role per component (seed section 15.1), each allowed what its code calls on
# this estate's resources only. ARNs are built from names here, so every policy is known at plan
# time and tests/infra can check it.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "mlops"
      environment = "production"
      managed_by  = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  arn        = "arn:${local.partition}"
  region_acc = "${var.region}:${local.account_id}"
  bedrock    = coalesce(var.bedrock_region, var.region)

  event_bus_name = "${var.name}-events"
  routing        = jsondecode(file("${path.module}/../../routing.json"))
  routes = {
    for name, rule in local.routing.rules : name => {
      description   = rule.description
      event_pattern = jsonencode(rule.event_pattern)
      targets       = rule.targets
    }
  }

  kms_alias       = "alias/${var.name}"
  kms_key_pattern = "${local.arn}:kms:${local.region_acc}:key/*"

  # Names the modules give their resources (messaging: `<prefix>-<name>-queue`).
  queue_names = { training = "training", evaluation = "eval", approval = "approval", run_events = "run-events", notifications = "notifications" }
  queue_arns  = { for key, name in local.queue_names : key => "${local.arn}:sqs:${local.region_acc}:${var.name}-${name}-queue" }
  dlq_names   = merge({ for key, name in local.queue_names : key => "${var.name}-${name}-dlq" }, { delivery = "${local.event_bus_name}-delivery-dlq" })

  event_bus_arn     = "${local.arn}:events:${local.region_acc}:event-bus/${local.event_bus_name}"
  topic_name        = "${var.name}-notifications"
  topic_arn         = "${local.arn}:sns:${local.region_acc}:${local.topic_name}"
  state_machine     = "${var.name}-release-workflow"
  state_machine_arn = "${local.arn}:states:${local.region_acc}:stateMachine:${local.state_machine}"

  datasets_bucket      = "${var.name}-datasets-${local.account_id}"
  model_outputs_bucket = "${var.name}-model-outputs-${local.account_id}"
  datasets_arn         = "${local.arn}:s3:::${local.datasets_bucket}"
  model_outputs_arn    = "${local.arn}:s3:::${local.model_outputs_bucket}"

  secrets = {
    teams-webhook        = "Incoming webhook URL of the Teams channel that receives the approval cards"
    api-bootstrap-key    = "First admin API key of the platform, used once to create the others"
    approval-signing-key = "Key (>= 32 characters) that signs the single-use approval links"
    service-api-key      = "The workers' `service` API key (evaluation results, approvals, projection)"
  }
  # Secret ARNs end with 6 random characters.
  secret_arns = { for key in keys(local.secrets) : key => "${local.arn}:secretsmanager:${local.region_acc}:secret:${var.name}/${key}-??????" }

  images       = ["api", "ui", "training", "evaluation", "approval", "projector"]
  registry     = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
  image_uri    = { for image in local.images : image => "${local.registry}/${var.name}-${image}:${var.image_tag}" }
  ecr_arn      = { for image in local.images : image => "${local.arn}:ecr:${local.region_acc}:repository/${var.name}-${image}" }
  judge_models = [for id in [var.judge_model_id, var.judge_embedding_model_id] : "${local.arn}:bedrock:${local.bedrock}::foundation-model/${id}"]

  # The worker images' runtime interface client (their default CMD is the local runner).
  lambda_entry_point = ["python", "-m", "awslambdaric"]
}

################################################################################
# The modules envs/local applies too
################################################################################

module "kms" {
  source = "../../modules/kms"

  alias              = var.name
  service_principals = ["events.amazonaws.com", "sns.amazonaws.com", "states.amazonaws.com", "cloudwatch.amazonaws.com"]
  tags               = var.tags
}

module "notifications" {
  source = "../../modules/notifications"

  name                  = local.topic_name
  kms_master_key_id     = module.kms.key_arn
  publisher_source_arns = ["${local.arn}:events:${local.region_acc}:rule/${local.event_bus_name}/*"]
  tags                  = var.tags
}

module "messaging" {
  source = "../../modules/messaging"

  event_bus_name    = local.event_bus_name
  queue_name_prefix = var.name
  routes            = local.routes
  # The name's ARN (known at plan time, so the start-executions policy is too); EventBridge does not
  # need the machine to exist when the target is put.
  state_machine_arns = { release = local.state_machine_arn }
  topic_arns         = { notifications = module.notifications.topic_arn }
  topic_subscriptions = {
    notifications = { topic = "notifications", queue = "notifications" }
  }
  tags = var.tags
}

module "storage" {
  source = "../../modules/storage"

  datasets_bucket_name      = local.datasets_bucket
  model_outputs_bucket_name = local.model_outputs_bucket
  kms_key_arn               = module.kms.key_arn
  tags                      = var.tags
}

module "secrets" {
  source = "../../modules/secrets"

  name_prefix = var.name
  secrets     = { for key, description in local.secrets : key => { description = description } }
  kms_key_arn = module.kms.key_arn
  tags        = var.tags
}

module "orchestration" {
  source = "../../modules/orchestration"

  name                     = local.state_machine
  definition_template_path = "${path.module}/../../templates/release_workflow.asl.json"
  template_variables = {
    event_bus_name                  = local.event_bus_name
    notifications_topic_arn         = module.notifications.topic_arn
    training_queue_url              = module.messaging.queue_urls["training"]
    evaluation_queue_url            = module.messaging.queue_urls["evaluation"]
    approval_queue_url              = module.messaging.queue_urls["approval"]
    datasets_bucket                 = module.storage.datasets_bucket_name
    model_outputs_bucket            = module.storage.model_outputs_bucket_name
    inference_image                 = var.inference_image
    training_timeout_margin_seconds = 600
    # SageMaker jobs send no heartbeat (the completion handler answers the token): the job's own
    # MaxWaitTime (spot) bounds the wait, the heartbeat only catches a lost completion event.
    training_heartbeat_seconds   = 172800
    evaluation_timeout_seconds   = 3600
    evaluation_heartbeat_seconds = 600
    approval_timeout_seconds     = var.approval_timeout_seconds
  }
  kms_key_arn                    = module.kms.key_arn
  sqs_queue_arns                 = [for key in ["training", "evaluation", "approval"] : local.queue_arns[key]]
  event_bus_arns                 = [local.event_bus_arn]
  sns_topic_arns                 = [local.topic_arn]
  kms_key_arns_for_publishing    = [local.kms_key_pattern]
  kms_key_aliases_for_publishing = [local.kms_alias]
  sagemaker_model_registry_arns  = module.sagemaker.model_registry_arns
  tags                           = var.tags
}

################################################################################
# Production only
################################################################################

module "network" {
  source = "../../modules/network"

  name               = "vpc-${var.name}"
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = module.kms.key_arn
  tags               = var.tags
}

module "database" {
  source = "../../modules/database"

  identifier                 = "${var.name}-db-production"
  instance_class             = var.db_instance_class
  multi_az                   = var.db_multi_az
  deletion_protection        = var.db_deletion_protection
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = { api = module.api.vpc_connector_security_group_id }
  kms_key_arn                = module.kms.key_arn
  tags                       = var.tags
}

module "ecr" {
  source = "../../modules/ecr"

  repositories = [for image in local.images : "${var.name}-${image}"]
  kms_key_arn  = module.kms.key_arn
  tags         = var.tags
}

module "sagemaker" {
  source = "../../modules/sagemaker"

  execution_role_name        = "${var.name}-sagemaker-role"
  read_bucket_arns           = [local.datasets_arn]
  output_bucket_arn          = local.model_outputs_arn
  ecr_repository_arns        = [local.ecr_arn["training"]]
  kms_key_arn_pattern        = local.kms_key_pattern
  kms_key_alias              = local.kms_alias
  mlflow_tracking_server_arn = var.mlflow_tracking_server_arn
  tags                       = var.tags
}
