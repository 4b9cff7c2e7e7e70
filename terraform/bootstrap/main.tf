# One-time bootstrap of an account for terraform/envs/prod: the versioned, encrypted state bucket
# (Terraform >= 1.10 locks with a lock file in it, no DynamoDB table) and, optionally, the roles the
# GitHub Actions workflow assumes through OIDC (plan on pull requests, deploy on main).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = "mlops"
      managed_by = "terraform-bootstrap"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  bucket_name = "mlops-tfstate-${local.account_id}-${var.region}"
  state_key   = "prod/terraform.tfstate"
  github      = var.github_repository != null
}

resource "aws_kms_key" "state" {
  description             = "Encrypts the Terraform state of the MLOps platform"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.state_key.json
}

data "aws_iam_policy_document" "state_key" {
  #checkov:skip=CKV_AWS_111:a key policy's resource "*" is the key itself; the account administers it through IAM
  #checkov:skip=CKV_AWS_356:a key policy's resource "*" is the key itself; the account administers it through IAM
  #checkov:skip=CKV_AWS_109:a key policy's resource "*" is the key itself; the account administers it through IAM (AWS's default key policy)
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_alias" "state" {
  name          = "alias/mlops-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:the state is recoverable from its versions; cross-region replication of a small state bucket is left to the account's backup policy
  #checkov:skip=CKV_AWS_18:access logging of the state bucket would need a log bucket of its own; CloudTrail records its API calls
  #checkov:skip=CKV2_AWS_62:nothing consumes event notifications of the state bucket
  bucket = local.bucket_name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.state_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_bucket.json
}

################################################################################
# GitHub Actions (OIDC): a plan role for pull requests, a deploy role for the production environment
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github && var.create_github_oidc_provider ? 1 : 0

  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
}

locals {
  github_provider_arn = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"
  github_subjects = {
    plan   = ["repo:${coalesce(var.github_repository, "none/none")}:pull_request"]
    deploy = ["repo:${coalesce(var.github_repository, "none/none")}:environment:production"]
  }
}

data "aws_iam_policy_document" "github_assume" {
  #checkov:skip=CKV_AWS_358:the audience is sts.amazonaws.com and the subject is pinned (StringEquals) to this repository's pull requests (plan) or its `production` environment (deploy)
  for_each = local.github ? local.github_subjects : {}

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = local.github ? local.github_subjects : {}

  name                 = "mlops-github-${each.key}"
  description          = "GitHub Actions of ${var.github_repository}: ${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.github_assume[each.key].json
  max_session_duration = 3600

  depends_on = [aws_iam_openid_connect_provider.github]
}

# The plan role reads everything Terraform refreshes and holds the state lock while it plans.
resource "aws_iam_role_policy_attachment" "plan_read_only" {
  count = local.github ? 1 : 0

  role       = aws_iam_role.github["plan"].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "state_access" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }
  statement {
    sid       = "ReadWriteStateAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/${local.state_key}", "${aws_s3_bucket.state.arn}/${local.state_key}.tflock"]
  }
  statement {
    sid       = "UseStateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }
}

resource "aws_iam_role_policy" "state_access" {
  for_each = local.github ? local.github_subjects : {}

  name   = "terraform-state"
  role   = aws_iam_role.github[each.key].name
  policy = data.aws_iam_policy_document.state_access.json
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = local.github ? toset(var.deploy_policy_arns) : toset([])

  role       = aws_iam_role.github["deploy"].name
  policy_arn = each.value
}
