# The platform on AWS: modules/platform_core, which envs/local applies too (key, bus, queues, topic,
# buckets, secrets, release workflow from the one ASL template), plus network, RDS, ECR, ECS Fargate behind an ALB,
# Lambda, SageMaker and CloudWatch. IAM: one role per component (seed section 15.1), each allowed what
# its code calls on this estate's resources only. ARNs are built from names, so every policy is known
# at plan time and tests/infra can check it.

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

  # Names and ARNs of the shared resources, known at plan time (the policies of iam.tf use them).
  names                = module.platform_core.names
  event_bus_name       = local.names.event_bus
  kms_alias            = local.names.kms_alias
  dlq_names            = local.names.dead_letter_queues
  datasets_bucket      = local.names.datasets_bucket
  model_outputs_bucket = local.names.model_outputs_bucket
  kms_key_pattern      = module.platform_core.planned_arns.kms_keys
  queue_arns           = module.platform_core.planned_arns.queues
  event_bus_arn        = module.platform_core.planned_arns.event_bus
  topic_arn            = module.platform_core.planned_arns.notifications_topic
  state_machine_arn    = module.platform_core.planned_arns.state_machine
  datasets_arn         = module.platform_core.planned_arns.datasets_bucket
  model_outputs_arn    = module.platform_core.planned_arns.model_outputs_bucket
  secret_arns          = module.platform_core.planned_arns.secrets

  # Buckets of base models the jobs may read besides the platform's own (POST /runs refuses others).
  model_source_arns = [for b in var.model_source_buckets : "${local.arn}:s3:::${b}"]

  images       = ["api", "ui", "serving", "training", "evaluation", "approval", "projector", "deployer"]
  registry     = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
  image_uri    = { for image in local.images : image => "${local.registry}/${var.name}-${image}:${var.image_tag}" }
  ecr_arn      = { for image in local.images : image => "${local.arn}:ecr:${local.region_acc}:repository/${var.name}-${image}" }
  judge_models = [for id in [var.judge_model_id, var.judge_embedding_model_id] : "${local.arn}:bedrock:${local.bedrock}::foundation-model/${id}"]

  # The worker images' runtime interface client (their default CMD is the local runner), and the
  # entry it runs: each invocation traced to X-Ray, then the function's own handler (ORIG_HANDLER).
  lambda_entry_point  = ["python", "-m", "awslambdaric"]
  lambda_traced_entry = "mlops_sqs_runtime.lambda_entry.handler"
}

################################################################################
# What envs/local applies too
################################################################################

module "platform_core" {
  source = "../../modules/platform_core"

  name = var.name
  # the serving image of this commit (services/serving) unless another inference image is given
  inference_image = coalesce(var.inference_image, local.image_uri["serving"])
  # CloudWatch alarms publish to the alarm topic, which this key encrypts (modules/observability).
  kms_additional_service_principals = ["cloudwatch.amazonaws.com"]
  secrets = {
    teams-webhook        = { description = "Incoming webhook URL of the Teams channel that receives the approval cards" }
    api-bootstrap-key    = { description = "First admin API key of the platform, used once to create the others" }
    approval-signing-key = { description = "Key (>= 32 characters) that signs the single-use approval links" }
    # each worker its own API key, of its own role (services/api auth/roles.py): only what its handler calls
    projector-api-key       = { description = "The projector's API key (role projector: run statuses, timeline, claims)" }
    evaluator-api-key       = { description = "The evaluation worker's API key (role evaluator: evaluation results)" }
    approval-worker-api-key = { description = "The approval worker's API key (role approval-worker: approval requests)" }
    trainer-api-key         = { description = "The training completion handler's API key (role trainer: the training result)" }
    deployer-api-key        = { description = "The deployer's API key (role deployer: a deployment's record, smoke questions and status)" }
    # gated and private base models (e.g. mistralai/Mistral-7B-v0.1): the jobs read it by its id
    hf-token = { description = "Hugging Face token (read access) of gated and private base models, read by the training jobs when they start" }
  }
  approval_timeout_seconds = var.approval_timeout_seconds
  tags                     = var.tags
}

# The six modules were called from here before modules/platform_core held them: their resources
# move with their state, none is destroyed or created again.
moved {
  from = module.kms
  to   = module.platform_core.module.kms
}

moved {
  from = module.notifications
  to   = module.platform_core.module.notifications
}

moved {
  from = module.messaging
  to   = module.platform_core.module.messaging
}

moved {
  from = module.storage
  to   = module.platform_core.module.storage
}

moved {
  from = module.secrets
  to   = module.platform_core.module.secrets
}

moved {
  from = module.orchestration
  to   = module.platform_core.module.orchestration
}

################################################################################
# Production only
################################################################################

module "network" {
  source = "../../modules/network"

  name               = "vpc-${var.name}"
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = module.platform_core.kms_key_arn
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
  allowed_security_group_ids = { api = module.api.security_group_id } # the API and its migration task
  kms_key_arn                = module.platform_core.kms_key_arn
  tags                       = var.tags
}

module "ecr" {
  source = "../../modules/ecr"

  repositories = [for image in local.images : "${var.name}-${image}"]
  kms_key_arn  = module.platform_core.kms_key_arn
  tags         = var.tags
}

module "sagemaker" {
  source = "../../modules/sagemaker"

  execution_role_name        = "${var.name}-sagemaker-role"
  read_bucket_arns           = concat([local.datasets_arn], local.model_source_arns)
  output_bucket_arn          = local.model_outputs_arn
  ecr_repository_arns        = [local.ecr_arn["training"]]
  kms_key_arn_pattern        = local.kms_key_pattern
  kms_key_alias              = local.kms_alias
  mlflow_tracking_server_arn = var.mlflow_tracking_server_arn
  hub_token_secret_arn       = local.secret_arns["hf-token"]
  progress_event_bus_arn     = local.event_bus_arn
  tags                       = var.tags
}
