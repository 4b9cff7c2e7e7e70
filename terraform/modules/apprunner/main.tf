# One App Runner service (seed section 4) from a private ECR image: its instance role (what the code
# calls), an access role that pulls only its repository, auto-scaling on concurrency, X-Ray tracing,
# and optionally a VPC connector for egress into the VPC (the API reaches RDS through it).

data "aws_caller_identity" "current" {}

locals {
  vpc_egress = var.vpc_connector_arn != null || var.vpc_connector != null
}

data "aws_iam_policy_document" "instance_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["tasks.apprunner.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "instance" {
  name               = coalesce(var.instance_role_name, "${var.name}-role")
  description        = "Instance role of the App Runner service ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.instance_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "instance" {
  count = var.instance_policy_json == null ? 0 : 1

  name   = "service"
  role   = aws_iam_role.instance.name
  policy = var.instance_policy_json
}

data "aws_iam_policy_document" "access_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["build.apprunner.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "access" {
  name               = "${var.name}-ecr-access"
  description        = "App Runner pulls the image of ${var.name} from ECR"
  assume_role_policy = data.aws_iam_policy_document.access_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages"]
    resources = [var.ecr_repository_arn]
  }

  # ecr:GetAuthorizationToken has no resource-level permissions (AWS documents "*").
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptTheImage"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn_pattern]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = [var.kms_key_alias]
    }
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "ecr-pull"
  role   = aws_iam_role.access.name
  policy = data.aws_iam_policy_document.access.json
}

resource "aws_apprunner_auto_scaling_configuration_version" "this" {
  auto_scaling_configuration_name = var.name
  min_size                        = var.min_size
  max_size                        = var.max_size
  max_concurrency                 = var.max_concurrency
  tags                            = var.tags
}

resource "aws_apprunner_observability_configuration" "this" {
  count = var.tracing_enabled ? 1 : 0

  observability_configuration_name = var.name
  trace_configuration {
    vendor = "AWSXRAY"
  }
  tags = var.tags
}

resource "aws_security_group" "connector" {
  count = var.vpc_connector == null ? 0 : 1

  name        = var.vpc_connector.name
  description = "Egress of the App Runner service ${var.name} into the VPC"
  vpc_id      = var.vpc_connector.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "connector_https" {
  count = var.vpc_connector == null ? 0 : 1

  security_group_id = aws_security_group.connector[0].id
  description       = "HTTPS: AWS APIs (VPC endpoints) and the internet through NAT"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "connector_postgres" {
  count = var.vpc_connector == null ? 0 : 1

  security_group_id = aws_security_group.connector[0].id
  description       = "PostgreSQL inside the VPC"
  cidr_ipv4         = var.vpc_connector.vpc_cidr
  from_port         = 5432
  to_port           = 5432
  ip_protocol       = "tcp"
}

resource "aws_apprunner_vpc_connector" "this" {
  count = var.vpc_connector == null ? 0 : 1

  vpc_connector_name = var.vpc_connector.name
  subnets            = var.vpc_connector.subnet_ids
  security_groups    = [aws_security_group.connector[0].id]
  tags               = var.tags
}

resource "aws_apprunner_service" "this" {
  service_name                   = var.name
  auto_scaling_configuration_arn = aws_apprunner_auto_scaling_configuration_version.this.arn

  source_configuration {
    auto_deployments_enabled = false
    authentication_configuration {
      access_role_arn = aws_iam_role.access.arn
    }
    image_repository {
      image_identifier      = var.image_uri
      image_repository_type = "ECR"
      image_configuration {
        port                          = tostring(var.port)
        start_command                 = var.start_command
        runtime_environment_variables = var.environment
        runtime_environment_secrets   = var.environment_secrets
      }
    }
  }

  instance_configuration {
    cpu               = var.cpu
    memory            = var.memory
    instance_role_arn = aws_iam_role.instance.arn
  }

  health_check_configuration {
    protocol            = "HTTP"
    path                = var.health_check_path
    interval            = 10
    timeout             = 5
    healthy_threshold   = 1
    unhealthy_threshold = 5
  }

  network_configuration {
    ingress_configuration {
      is_publicly_accessible = true
    }
    egress_configuration {
      egress_type       = local.vpc_egress ? "VPC" : "DEFAULT"
      vpc_connector_arn = local.vpc_egress ? coalesce(var.vpc_connector_arn, try(aws_apprunner_vpc_connector.this[0].arn, null)) : null
    }
  }

  dynamic "observability_configuration" {
    for_each = var.tracing_enabled ? [1] : []
    content {
      observability_enabled           = true
      observability_configuration_arn = aws_apprunner_observability_configuration.this[0].arn
    }
  }

  encryption_configuration {
    kms_key = var.kms_key_arn
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.access, aws_iam_role_policy.instance]
}
