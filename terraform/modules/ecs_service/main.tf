# One ECS Fargate service behind the load balancer (docs/decisions/0018-ecs-fargate-behind-an-alb.md):
# its task definition (the service's container and its sidecars, logs to a KMS-encrypted log group,
# secrets injected by ECS from Secrets Manager), an execution role that pulls only its repository and
# reads only its declared secrets, an optional task role (what the code calls), a security group that
# admits the load balancer only, rolling deployments with the circuit breaker's rollback, and target
# tracking auto scaling on CPU and on requests per task.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  arn_prefix     = "arn:${data.aws_partition.current.partition}"
  region         = data.aws_region.current.name
  log_group_name = "/ecs/${var.name}"
  log_group_arn  = "${local.arn_prefix}:logs:${local.region}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group_name}"

  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = local.log_group_name
      awslogs-region        = local.region
      awslogs-stream-prefix = var.name
    }
  }
  # Fargate's ephemeral task storage: the only writable place when the root filesystem is read-only.
  tmp_mount = var.readonly_root_filesystem ? [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }] : []

  service_container = merge(
    {
      name                   = "app"
      image                  = var.image_uri
      essential              = true
      readonlyRootFilesystem = var.readonly_root_filesystem
      privileged             = false
      portMappings           = [{ name = "http", containerPort = var.port, protocol = "tcp", appProtocol = "http" }]
      environment            = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
      secrets                = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
      mountPoints            = local.tmp_mount
      logConfiguration       = local.log_configuration
    },
    var.command == null ? {} : { command = var.command },
  )

  sidecar_containers = [for s in var.sidecars : merge(
    {
      name                   = s.name
      image                  = s.image
      essential              = s.essential
      readonlyRootFilesystem = var.readonly_root_filesystem
      privileged             = false
      portMappings           = [for p in s.ports : { containerPort = p, protocol = "tcp" }]
      environment            = [for k in sort(keys(s.environment)) : { name = k, value = s.environment[k] }]
      mountPoints            = local.tmp_mount
      logConfiguration       = local.log_configuration
    },
    s.command == null ? {} : { command = s.command },
  )]
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:30 days as in the platform's log retention table (the runs' record is the API database)
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Roles
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# The execution role: what ECS itself does to start a task (pull the image, write the logs, read the
# secrets of the task definition), never what the code calls.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution-role"
  description        = "ECS starts the tasks of ${var.name}: image pull, logs, secrets"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arn]
  }

  # ecr:GetAuthorizationToken has no resource-level permissions (AWS documents "*").
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTheLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.secrets) == 0 ? [] : [1]
    content {
      sid       = "ReadTheTaskSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = sort(distinct(values(var.secrets)))
    }
  }

  # The image's layers (ECR's KMS encryption) and the secrets are encrypted with the platform's key.
  statement {
    sid       = "DecryptWithThePlatformKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn_pattern]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = [var.kms_key_alias]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-tasks"
  role   = aws_iam_role.execution.name
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  count = var.task_role_name == null ? 0 : 1

  name               = var.task_role_name
  description        = "Task role of the ECS service ${var.name}: what its code calls"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  count = var.task_role_name == null || var.task_policy_json == null ? 0 : 1

  name   = "service"
  role   = aws_iam_role.task[0].name
  policy = var.task_policy_json
}

################################################################################
# Task definition and service
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = try(aws_iam_role.task[0].arn, null)
  container_definitions    = jsonencode(concat([local.service_container], local.sidecar_containers))

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64" # `make deploy` builds linux/amd64 images
  }

  dynamic "volume" {
    for_each = var.readonly_root_filesystem ? [1] : []
    content {
      name = "tmp"
    }
  }

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Tasks of the ECS service ${var.name}"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The load balancer, on the container port"
  referenced_security_group_id = var.ingress_security_group_id
  from_port                    = var.port
  to_port                      = var.port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "from_services" {
  for_each = var.extra_ingress_security_group_ids

  security_group_id            = aws_security_group.tasks.id
  description                  = "The ${each.key} tasks, on the container port"
  referenced_security_group_id = each.value
  from_port                    = var.port
  to_port                      = var.port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS: AWS APIs (VPC endpoints), ECR, the identity provider's and ELB's public keys through NAT"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

# Inside the VPC: PostgreSQL for the API, the API's port for the dashboard (Service Connect).
resource "aws_vpc_security_group_egress_rule" "vpc" {
  for_each = toset([for port in var.egress_vpc_ports : tostring(port)])

  security_group_id = aws_security_group.tasks.id
  description       = "Port ${each.key} inside the VPC"
  cidr_ipv4         = var.vpc_cidr
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  ip_protocol       = "tcp"
}

resource "aws_ecs_service" "this" {
  name                              = var.name
  cluster                           = var.cluster_arn
  task_definition                   = aws_ecs_task_definition.this.arn
  desired_count                     = var.min_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  # rolling: new tasks start and pass their health checks before old ones stop
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = "app"
    container_port   = var.port
  }

  dynamic "service_connect_configuration" {
    for_each = var.service_connect == null ? [] : [var.service_connect]
    content {
      enabled   = true
      namespace = service_connect_configuration.value.namespace_arn

      dynamic "service" {
        for_each = service_connect_configuration.value.dns_name == null ? [] : [service_connect_configuration.value.dns_name]
        content {
          port_name      = "http"
          discovery_name = service.value
          client_alias {
            port     = var.port
            dns_name = service.value
          }
        }
      }
    }
  }

  # auto scaling owns the count after creation
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.execution, aws_iam_role_policy.task]
}

################################################################################
# Auto scaling
################################################################################

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = var.request_count_resource_label
    }
  }
}
