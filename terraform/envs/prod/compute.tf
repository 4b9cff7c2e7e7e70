################################################################################
# ECS Fargate behind the load balancer: API and dashboard
# (docs/decisions/0018-ecs-fargate-behind-an-alb.md; App Runner takes no new customers since 2026)
################################################################################

locals {
  # Where people and the workers reach the platform: the certificate's domain name.
  public_url = "https://${var.domain_name}"
  # The ADOT collector beside the API (docs/decisions/0019-platform-metrics-and-traces.md): scrapes
  # the API's /metrics inside the task into CloudWatch (EMF) and sends the OTLP traces to X-Ray.
  api_metrics_log_group = "/ecs/${var.name}-api/metrics"
  adot_config = templatefile("${path.module}/../../templates/adot_collector.yaml", {
    region         = var.region
    namespace      = var.metrics_namespace
    log_group_name = local.api_metrics_log_group
    api_port       = 8000
  })
  api_environment = {
    AWS_REGION                 = var.region
    EVENT_BUS_NAME             = local.event_bus_name
    DATASETS_BUCKET            = local.datasets_bucket
    MODEL_OUTPUTS_BUCKET       = local.model_outputs_bucket
    MODEL_SOURCE_BUCKETS       = join(",", var.model_source_buckets)
    APPROVAL_SIGNING_SECRET_ID = "" # the key comes from the task definition's secrets
    PUBLIC_API_URL             = local.public_url
    LOG_FORMAT                 = "json"
    # POST /runs refuses a longer run: the release workflow's 7 days could not hold its training wait
    MAX_TRAINING_RUNTIME_SECONDS = tostring(module.platform_core.max_training_runtime_seconds)
    # PostgreSQL: the host and the RDS-managed secret ({username, password}) the URL is built from.
    # The code reads that secret itself (not the task definition's secrets): RDS rotates it every
    # 30 days and the API re-reads it when refused, without a new deployment.
    DATABASE_HOST       = module.database.address
    DATABASE_PORT       = tostring(module.database.port)
    DATABASE_NAME       = module.database.db_name
    DATABASE_SECRET_ARN = module.database.master_user_secret_arn
    # The load balancer's signed identity header, x-amzn-oidc-data (docs/decisions/0017-people-signed-in-at-the-load-balancer.md):
    # the signer the API accepts (its public keys come from ELB's endpoint of AWS_REGION) and the
    # group claim that gives people their roles.
    OIDC_ALB_ARN      = module.alb.arn
    OIDC_GROUPS_CLAIM = var.oidc_groups_claim
    OIDC_ROLE_GROUPS  = jsonencode(var.oidc_role_groups)
    # /metrics for the ADOT collector on the task's loopback only (the ALB's 404 rule matches the
    # plain path; an encoded one would reach the route)
    METRICS_LOOPBACK_ONLY = "true"
    # OpenTelemetry traces to the ADOT sidecar (mlops_contracts.tracing), run id as a span attribute.
    OTEL_TRACES_ENABLED         = "true"
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
    OTEL_SERVICE_NAME           = "${var.name}-api"
  }
  api_secrets = {
    APPROVAL_SIGNING_KEY = local.secret_arns["approval-signing-key"]
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

# Service Connect: the dashboard reaches the API at http://api:8000 inside the VPC (it passes on the
# signed-in person's identity header; it holds no API key of its own).
resource "aws_service_discovery_http_namespace" "this" {
  name        = var.name
  description = "ECS Service Connect of the platform's services"
  tags        = var.tags
}

data "aws_secretsmanager_secret_version" "oidc_client_secret" {
  secret_id = var.oidc_client_secret_id
}

module "alb" {
  source = "../../modules/alb"

  name            = var.name
  vpc_id          = module.network.vpc_id
  vpc_cidr        = module.network.vpc_cidr_block
  subnet_ids      = module.network.public_subnet_ids
  certificate_arn = var.certificate_arn
  oidc = {
    issuer                 = var.oidc_issuer
    authorization_endpoint = var.oidc_authorization_endpoint
    token_endpoint         = var.oidc_token_endpoint
    user_info_endpoint     = var.oidc_user_info_endpoint
    client_id              = var.oidc_client_id
    scope                  = var.oidc_scope
  }
  # In the state (the listener's configuration needs the value): the state bucket is KMS-encrypted.
  oidc_client_secret  = data.aws_secretsmanager_secret_version.oidc_client_secret.secret_string
  deletion_protection = var.alb_deletion_protection
  tags                = var.tags
}

module "api" {
  source = "../../modules/ecs_service"

  name                         = "${var.name}-api"
  cluster_arn                  = aws_ecs_cluster.this.arn
  cluster_name                 = aws_ecs_cluster.this.name
  image_uri                    = local.image_uri["api"]
  ecr_repository_arn           = local.ecr_arn["api"]
  port                         = 8000
  cpu                          = 512
  memory                       = 1024
  min_count                    = 1
  max_count                    = 5
  requests_per_target          = 3000 # a minute, per task
  request_count_resource_label = "${module.alb.arn_suffix}/${module.alb.target_group_arn_suffixes["api"]}"
  task_role_name               = "${var.name}-api-role"
  task_policy_json             = data.aws_iam_policy_document.api.json
  environment                  = local.api_environment
  secrets                      = local.api_secrets
  sidecars = [{
    name      = "adot-collector"
    image     = var.adot_collector_image
    essential = false # the API serves without it; metrics and traces pause
    # the ADOT collector reads its whole configuration from this variable
    environment = { AOT_CONFIG_CONTENT = local.adot_config }
  }]
  vpc_id                           = module.network.vpc_id
  vpc_cidr                         = module.network.vpc_cidr_block
  subnet_ids                       = module.network.private_subnet_ids
  egress_vpc_ports                 = [5432]
  ingress_security_group_id        = module.alb.security_group_id
  extra_ingress_security_group_ids = { dashboard = module.ui.security_group_id }
  target_group_arn                 = module.alb.target_group_arns["api"]
  service_connect                  = { namespace_arn = aws_service_discovery_http_namespace.this.arn, dns_name = "api" }
  kms_key_arn                      = module.platform_core.kms_key_arn
  kms_key_arn_pattern              = local.kms_key_pattern
  kms_key_alias                    = local.kms_alias
  tags                             = var.tags
}

module "ui" {
  source = "../../modules/ecs_service"

  name                         = "${var.name}-ui"
  cluster_arn                  = aws_ecs_cluster.this.arn
  cluster_name                 = aws_ecs_cluster.this.name
  image_uri                    = local.image_uri["ui"]
  ecr_repository_arn           = local.ecr_arn["ui"]
  port                         = 8501
  cpu                          = 256
  memory                       = 512
  min_count                    = 1
  max_count                    = 3
  requests_per_target          = 1000
  request_count_resource_label = "${module.alb.arn_suffix}/${module.alb.target_group_arn_suffixes["ui"]}"
  # no task role: the dashboard calls no AWS API, only the API
  environment = {
    API_URL = "http://api:8000"
  }
  vpc_id                    = module.network.vpc_id
  vpc_cidr                  = module.network.vpc_cidr_block
  subnet_ids                = module.network.private_subnet_ids
  egress_vpc_ports          = [8000]
  ingress_security_group_id = module.alb.security_group_id
  target_group_arn          = module.alb.target_group_arns["ui"]
  service_connect           = { namespace_arn = aws_service_discovery_http_namespace.this.arn }
  kms_key_arn               = module.platform_core.kms_key_arn
  kms_key_arn_pattern       = local.kms_key_pattern
  kms_key_alias             = local.kms_alias
  tags                      = var.tags
}

resource "aws_cloudwatch_log_group" "api_metrics" {
  #checkov:skip=CKV_AWS_338:30 days as in the platform's log retention table; CloudWatch keeps the metrics extracted from these EMF lines for 15 months
  name              = local.api_metrics_log_group
  retention_in_days = 30
  kms_key_id        = module.platform_core.kms_key_arn
  tags              = var.tags
}

# The schema migration: a one-off task of the API's image that `make deploy` runs (scripts/deploy.sh,
# `aws ecs run-task` then `aws ecs wait tasks-stopped`) before the API's service takes the new image.
# The API's advisory-lock migration on start stays as a guard (MIGRATE_ON_START is unset: off).
resource "aws_iam_role" "migrate" {
  name               = "${var.name}-migrate-role"
  description        = "Task role of the one-off schema migration: reads the database secret"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "migrate" {
  name   = "migrate"
  role   = aws_iam_role.migrate.name
  policy = data.aws_iam_policy_document.migrate.json
}

resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = module.api.execution_role_arn
  task_role_arn            = aws_iam_role.migrate.arn
  container_definitions = jsonencode([{
    name                   = "migrate"
    image                  = local.image_uri["api"]
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    command                = ["migrate"]
    environment = [for k, v in {
      AWS_REGION          = var.region
      LOG_FORMAT          = "json"
      DATABASE_HOST       = module.database.address
      DATABASE_PORT       = tostring(module.database.port)
      DATABASE_NAME       = module.database.db_name
      DATABASE_SECRET_ARN = module.database.master_user_secret_arn
    } : { name = k, value = v }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = module.api.log_group_name
        awslogs-region        = var.region
        awslogs-stream-prefix = "migrate"
      }
    }
  }])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
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

  kms_key_arn          = module.platform_core.kms_key_arn
  kms_key_arn_pattern  = local.kms_key_pattern
  kms_key_alias        = local.kms_alias
  tags                 = var.tags
  traced_entry_handler = local.lambda_traced_entry

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
      # EVALUATION_BACKEND=sagemaker: this function starts a GPU Processing job per task
      # (evaluation_job.tf); the settings below are also the job's (the dispatcher copies them)
      environment = merge(local.evaluation_job_environment, {
        JUDGE                    = "bedrock"
        BEDROCK_REGION           = local.bedrock
        JUDGE_MODEL_ID           = var.judge_model_id
        JUDGE_EMBEDDING_MODEL_ID = var.judge_embedding_model_id
        MODEL_OUTPUTS_BUCKET     = local.model_outputs_bucket
        API_URL                  = local.public_url
        API_KEY_SECRET_ID        = module.platform_core.secret_arns["evaluator-api-key"]
        HF_TOKEN_SECRET_ID       = module.platform_core.secret_arns["hf-token"] # a gated base model's token, by id
        METRICS_NAMESPACE        = "MLOps"
        WORK_DIR                 = "/tmp/mlops-evaluation"
        HF_HOME                  = "/tmp/huggingface"
      })
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
          # the job's own settings: its progress bus, and the id (never the value) of its HF token
          EVENT_BUS_NAME     = local.event_bus_name
          HF_TOKEN_SECRET_ID = module.platform_core.secret_arns["hf-token"]
        },
        var.mlflow_tracking_server_arn == null ? {} : { MLFLOW_TRACKING_URI = var.mlflow_tracking_server_arn },
      )
      sqs_source = local.sqs_source["training"]
    }

    # Deploys approved packages (the release's Deploy stage, POST /deployments): the endpoint's
    # creation or canary update takes minutes, which the deployer waits out with heartbeats.
    "${var.name}-deployer" = {
      description = "Serves approved packages on SageMaker endpoints with a canary and auto-rollback (deployments queue)"
      image_uri   = local.image_uri["deployer"]
      entry_point = local.lambda_entry_point
      command     = [local.lambda_handler["deployments"]]
      role_name   = "${var.name}-deployer-role"
      policy_json = data.aws_iam_policy_document.deployer.json
      timeout     = 900
      memory_size = 512
      environment = {
        SERVING_BACKEND                = "sagemaker"
        SAGEMAKER_EXECUTION_ROLE_ARN   = module.sagemaker.execution_role_arn
        SERVING_INSTANCE_TYPE          = var.serving_instance_type
        SERVING_INSTANCE_COUNT         = tostring(var.serving_instance_count)
        SERVING_CANARY_PERCENT         = tostring(var.serving_canary_percent)
        SERVING_DATA_CAPTURE_URI       = "s3://${local.model_outputs_bucket}/data-capture/"
        SERVING_ALARM_PREFIX           = "${var.name}-serving"
        DEPLOYER_HEARTBEAT_SECONDS     = "60"
        DEPLOYER_START_TIMEOUT_SECONDS = "840"
        API_URL                        = local.public_url
        API_KEY_SECRET_ID              = module.platform_core.secret_arns["deployer-api-key"]
      }
      sqs_source = local.sqs_source["deployments"]
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
      # the job's result (summary, loss history) is PUT on the run with the trainer's own key
      environment = {
        API_URL           = local.public_url
        API_KEY_SECRET_ID = module.platform_core.secret_arns["trainer-api-key"]
      }
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
        API_URL                 = local.public_url
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
        DASHBOARD_URL           = local.public_url
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
        API_URL           = local.public_url
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
        API_URL           = local.public_url
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
    "${var.name}-eval"                  = { duration_alarm_ms = 800000 } # seed: Duration > 800000 ms
    "${var.name}-training-dispatcher"   = { duration_alarm_ms = 48000 }
    "${var.name}-training-completion"   = { duration_alarm_ms = 48000 }
    "${var.name}-evaluation-completion" = { duration_alarm_ms = 48000 } # evaluation_job.tf
    "${var.name}-approval"              = { duration_alarm_ms = 240000 }
    "${var.name}-teams-formatter"       = { duration_alarm_ms = 48000 }
    "${var.name}-projector"             = { duration_alarm_ms = 48000 }
    "${var.name}-claims"                = { duration_alarm_ms = 24000 }
    "${var.name}-deployer"              = { duration_alarm_ms = 800000 }
  }
  load_balancer_arn_suffix = module.alb.arn_suffix
  target_groups            = module.alb.target_group_arn_suffixes
  outbox_metrics = {
    namespace  = var.metrics_namespace
    dimensions = { job = "${var.name}-api" }
  }
  kms_key_arn = module.platform_core.kms_key_arn
  tags        = var.tags
}

################################################################################
# Model endpoints: invocation errors (issue #20)
################################################################################

# Every endpoint's 5XX invocation errors, summed across endpoints and variants by a Metrics
# Insights query: the endpoints are created by the deployer, one per model, whose names Terraform
# cannot know. The deployer's own per-endpoint alarms drive a deployment's auto-rollback.
resource "aws_cloudwatch_metric_alarm" "endpoint_invocation_errors" {
  alarm_name          = "${var.name}-endpoint-invocation-errors"
  alarm_description   = "A model endpoint answered with 5XX errors (AWS/SageMaker Invocation5XXErrors, all endpoints)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.observability.alarm_topic_arn]

  metric_query {
    id          = "errors"
    expression  = "SELECT SUM(Invocation5XXErrors) FROM SCHEMA(\"AWS/SageMaker\", EndpointName, VariantName)"
    period      = 300
    return_data = true
  }
  tags = var.tags
}
