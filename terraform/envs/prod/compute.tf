################################################################################
# App Runner: API and UI (seed section 4)
################################################################################

module "api" {
  source = "../../modules/apprunner"

  name                 = "${var.name}-api"
  image_uri            = local.image_uri["api"]
  ecr_repository_arn   = local.ecr_arn["api"]
  port                 = 8000
  cpu                  = "0.5 vCPU"
  memory               = "1 GB"
  min_size             = 1
  max_size             = 5
  max_concurrency      = 50
  health_check_path    = "/health"
  instance_policy_json = data.aws_iam_policy_document.api.json
  environment = {
    AWS_REGION                 = var.region
    EVENT_BUS_NAME             = local.event_bus_name
    DATASETS_BUCKET            = local.datasets_bucket
    MODEL_OUTPUTS_BUCKET       = local.model_outputs_bucket
    APPROVAL_SIGNING_SECRET_ID = module.platform_core.secret_arns["approval-signing-key"]
    LOG_FORMAT                 = "json"
    # PostgreSQL: the host and the RDS-managed secret ({username, password}) the URL is built from.
    DATABASE_HOST       = module.database.address
    DATABASE_PORT       = tostring(module.database.port)
    DATABASE_NAME       = module.database.db_name
    DATABASE_SECRET_ARN = module.database.master_user_secret_arn
    # App Runner has no one-off tasks: each instance upgrades the schema as it starts, under a
    # PostgreSQL advisory lock (one migrates, the others wait and find it at head).
    MIGRATE_ON_START = "true"
  }
  vpc_connector = {
    name       = "${var.name}-vpc-connector"
    vpc_id     = module.network.vpc_id
    vpc_cidr   = module.network.vpc_cidr_block
    subnet_ids = module.network.private_subnet_ids
  }
  tracing_enabled     = true
  kms_key_arn         = module.platform_core.kms_key_arn
  kms_key_arn_pattern = local.kms_key_pattern
  kms_key_alias       = local.kms_alias
  tags                = var.tags
}

module "ui" {
  source = "../../modules/apprunner"

  name               = "${var.name}-ui"
  image_uri          = local.image_uri["ui"]
  ecr_repository_arn = local.ecr_arn["ui"]
  port               = 8501
  cpu                = "0.25 vCPU"
  memory             = "0.5 GB"
  min_size           = 1
  max_size           = 3
  health_check_path  = "/_stcore/health"
  # mlops-ui-role: no permission at all, the dashboard talks only to the API over HTTPS.
  instance_policy_json = null
  environment = {
    API_URL = module.api.service_url
  }
  tracing_enabled     = false
  kms_key_arn         = module.platform_core.kms_key_arn
  kms_key_arn_pattern = local.kms_key_pattern
  kms_key_alias       = local.kms_alias
  tags                = var.tags
}

################################################################################
# Lambda functions (the workers' images through awslambdaric)
################################################################################

locals {
  # The workers' SQS event-source mappings: the one file the runner of the worker images
  # (mlops_sqs_runtime) plays them from too. Read here: each handler, batch size and batching window.
  lambda_mappings = jsondecode(file("${path.module}/../../lambda_mappings.json")).mappings
  lambda_handler  = { for key, m in local.lambda_mappings : key => replace(m.handler, ":", ".") }
  # by mapping key, which is the messaging module's queue key
  sqs_source = {
    for key, m in local.lambda_mappings : key => {
      queue_arn                   = local.queue_arns[key]
      event_source_arn            = module.platform_core.queue_arns[key]
      batch_size                  = m.batch_size
      max_batching_window_seconds = try(m.max_batching_window_seconds, 0)
    }
  }
}

module "lambdas" {
  source = "../../modules/lambdas"

  kms_key_arn         = module.platform_core.kms_key_arn
  kms_key_arn_pattern = local.kms_key_pattern
  kms_key_alias       = local.kms_alias
  tags                = var.tags

  functions = {
    # Lambda stops at 15 minutes. Evaluations that need longer (big eval sets, a slow judge quota)
    # run the same image on ECS Fargate with `python -m mlops_sqs_runtime.runner --mapping evaluation`
    # (the image's default command: it polls the evaluation queue, the handler heartbeats the task
    # token, and the runner extends the message's visibility while it works) - an ECS service of desired count 0..N in the
    # private subnets, with this function's role permissions plus sqs:ChangeMessageVisibility. Not
    # declared here: at the seed's ~10 runs a month the Lambda path covers the evaluations.
    "${var.name}-eval" = {
      description = "Candidate inference, RAGAS on Bedrock, MLScore gate (evaluation queue)"
      image_uri   = local.image_uri["evaluation"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["evaluation"]]
      role_name   = "${var.name}-eval-role"
      policy_json = data.aws_iam_policy_document.evaluation.json
      timeout     = 900
      memory_size = 10240
      # Evaluations share the judge's Bedrock quota: reserved concurrency caps them.
      reserved_concurrency = var.evaluation_reserved_concurrency
      ephemeral_storage_mb = 10240
      environment = {
        JUDGE                    = "bedrock"
        BEDROCK_REGION           = local.bedrock
        JUDGE_MODEL_ID           = var.judge_model_id
        JUDGE_EMBEDDING_MODEL_ID = var.judge_embedding_model_id
        MODEL_OUTPUTS_BUCKET     = local.model_outputs_bucket
        API_URL                  = module.api.service_url
        API_KEY_SECRET_ID        = module.platform_core.secret_arns["evaluator-api-key"]
        METRICS_NAMESPACE        = "MLOps"
        WORK_DIR                 = "/tmp/mlops-evaluation"
        HF_HOME                  = "/tmp/huggingface"
      }
      sqs_source = merge(local.sqs_source["evaluation"], { maximum_concurrency = max(2, var.evaluation_reserved_concurrency) })
    }

    "${var.name}-training-dispatcher" = {
      description = "Starts a SageMaker training job per training task (training queue)"
      image_uri   = local.image_uri["training"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["training"]]
      role_name   = "${var.name}-dispatcher-role"
      policy_json = data.aws_iam_policy_document.dispatcher.json
      timeout     = 60
      memory_size = 1024
      environment = merge(
        {
          TRAINING_BACKEND       = "sagemaker"
          TRAINING_IMAGE         = local.image_uri["training"]
          SAGEMAKER_ROLE_ARN     = module.sagemaker.execution_role_arn
          TRAINING_INSTANCE_TYPE = var.training_instance_type
          TRAINING_USE_SPOT      = tostring(var.training_use_spot)
        },
        var.mlflow_tracking_server_arn == null ? {} : { MLFLOW_TRACKING_URI = var.mlflow_tracking_server_arn },
      )
      sqs_source = local.sqs_source["training"]
    }

    "${var.name}-training-completion" = {
      description = "Answers the workflow's training task when a SageMaker training job ends"
      image_uri   = local.image_uri["training"]
      entry_point = local.lambda_entry_point
      command     = ["mlops_training.dispatch.handler.completion_handler"]
      role_name   = "${var.name}-training-completion-role"
      policy_json = data.aws_iam_policy_document.completion.json
      timeout     = 60
      memory_size = 1024
      event_rule = {
        event_pattern = jsonencode({
          source        = ["aws.sagemaker"]
          "detail-type" = ["SageMaker Training Job State Change"]
          detail = {
            TrainingJobStatus = ["Completed", "Failed", "Stopped"]
            Tags              = { project = ["mlops"] }
          }
        })
      }
    }

    "${var.name}-approval" = {
      description = "Registers approval requests with the API and notifies (approval queue)"
      image_uri   = local.image_uri["approval"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["approval"]]
      role_name   = "${var.name}-approval-role"
      policy_json = data.aws_iam_policy_document.approval.json
      timeout     = 300
      environment = {
        NOTIFICATIONS_TOPIC_ARN = module.platform_core.notifications_topic_arn
        API_URL                 = module.api.service_url
        API_KEY_SECRET_ID       = module.platform_core.secret_arns["approval-worker-api-key"]
      }
      sqs_source = local.sqs_source["approval"]
    }

    "${var.name}-teams-formatter" = {
      description = "Turns notifications into Teams Adaptive Cards (notifications queue)"
      image_uri   = local.image_uri["approval"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["notifications"]]
      role_name   = "${var.name}-teams-formatter-role"
      policy_json = data.aws_iam_policy_document.formatter.json
      timeout     = 60
      environment = {
        TEAMS_WEBHOOK_SECRET_ID = module.platform_core.secret_arns["teams-webhook"]
        DASHBOARD_URL           = module.ui.service_url
      }
      sqs_source = local.sqs_source["notifications"]
    }

    "${var.name}-projector" = {
      description = "Applies the workflow's facts to the runs through the API (run-events queue)"
      image_uri   = local.image_uri["projector"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["run_events"]]
      role_name   = "${var.name}-projector-role"
      policy_json = data.aws_iam_policy_document.projector.json
      timeout     = 60
      environment = {
        API_URL           = module.api.service_url
        API_KEY_SECRET_ID = module.platform_core.secret_arns["projector-api-key"]
      }
      sqs_source = local.sqs_source["run_events"]
    }

    "${var.name}-claims" = {
      description = "The release workflow's first step: claims the run for one execution (claims queue)"
      image_uri   = local.image_uri["projector"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["claims"]]
      role_name   = "${var.name}-claims-role"
      policy_json = data.aws_iam_policy_document.claims.json
      timeout     = 30
      environment = {
        API_URL           = module.api.service_url
        API_KEY_SECRET_ID = module.platform_core.secret_arns["projector-api-key"]
      }
      sqs_source = local.sqs_source["claims"]
    }
  }
}

################################################################################
# Observability (seed section 14)
################################################################################

module "observability" {
  source = "../../modules/observability"

  name_prefix        = var.name
  alarm_emails       = var.alarm_emails
  dead_letter_queues = local.dlq_names
  state_machine_arn  = local.state_machine_arn
  lambda_functions = {
    "${var.name}-eval"                = { duration_alarm_ms = 800000 } # seed: Duration > 800000 ms
    "${var.name}-training-dispatcher" = { duration_alarm_ms = 48000 }
    "${var.name}-training-completion" = { duration_alarm_ms = 48000 }
    "${var.name}-approval"            = { duration_alarm_ms = 240000 }
    "${var.name}-teams-formatter"     = { duration_alarm_ms = 48000 }
    "${var.name}-projector"           = { duration_alarm_ms = 48000 }
    "${var.name}-claims"              = { duration_alarm_ms = 24000 }
  }
  apprunner_services = {
    (module.api.service_name) = module.api.service_id
    (module.ui.service_name)  = module.ui.service_id
  }
  kms_key_arn = module.platform_core.kms_key_arn
  tags        = var.tags
}
