################################################################################
# Candidate evaluation on a GPU (issue #17.1; docs/decisions/0020-evaluation-as-a-processing-job.md)
#
# The evaluation queue's function (compute.tf, EVALUATION_BACKEND=sagemaker) starts one SageMaker
# Processing job per task, running the evaluation image's `python -m mlops_evaluation job` on a GPU
# instance in the private subnets; the job answers the workflow's task token itself. A job that fails
# or is stopped before answering reaches the completion function below through its state-change
# event, and a failed one the alarm topic.
################################################################################

locals {
  eval_job_role_name   = "${var.name}-eval-job-role"
  processing_job_arns  = "${local.arn}:sagemaker:${local.region_acc}:processing-job/*"
  processing_log_group = "${local.arn}:logs:${local.region_acc}:log-group:/aws/sagemaker/ProcessingJobs"
  # What the evaluation function passes to CreateProcessingJob (mlops_evaluation.dispatch.sagemaker)
  evaluation_job_environment = {
    EVALUATION_BACKEND             = "sagemaker"
    EVALUATION_IMAGE               = local.image_uri["evaluation"]
    EVALUATION_JOB_ROLE_ARN        = aws_iam_role.evaluation_job.arn
    EVALUATION_INSTANCE_TYPE       = var.evaluation_instance_type
    EVALUATION_SUBNET_IDS          = join(",", module.network.private_subnet_ids)
    EVALUATION_SECURITY_GROUP_IDS  = aws_security_group.evaluation_job.id
    EVALUATION_JOB_TIMEOUT_SECONDS = tostring(var.evaluation_job_timeout_seconds)
    GENERATION_BATCH_SIZE          = "32" # a GPU answers 32 prompts a batch (make bench-eval-gpu)
  }
}

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "evaluation_job" {
  name               = local.eval_job_role_name
  description        = "SageMaker Processing jobs that evaluate candidates on a GPU"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
  tags               = var.tags
}

# The job's code: the evaluation worker (candidate files, Bedrock judge, results, task token), plus
# what SageMaker needs to run it (image pull, logs, its network interfaces in the VPC).
data "aws_iam_policy_document" "evaluation_job" {
  #checkov:skip=CKV_AWS_356:"*" only for actions without resource-level permissions: states:SendTask* (authorized by the task token), ecr:GetAuthorizationToken, ec2:Describe* of the VPC set-up; tests/infra/test_prod_iam.py lists them
  #checkov:skip=CKV_AWS_111:no write without a resource constraint: the network interfaces are SageMaker's in the platform's subnets and security group
  statement {
    sid       = "ReadDatasetsAndCandidates"
    actions   = ["s3:GetObject"]
    resources = concat(["${local.datasets_arn}/*", "${local.model_outputs_arn}/*"], [for b in local.model_source_arns : "${b}/*"])
  }

  statement {
    sid       = "ListCandidates"
    actions   = ["s3:ListBucket"]
    resources = concat([local.datasets_arn, local.model_outputs_arn], local.model_source_arns)
  }

  statement {
    sid       = "WriteEvaluationOutputs"
    actions   = ["s3:PutObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  statement {
    sid       = "UseThePlatformKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_pattern]
    condition {
      test     = local.use_key.test
      variable = local.use_key.variable
      values   = local.use_key.values
    }
  }

  statement {
    sid       = "Judge"
    actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:GetFoundationModel"]
    resources = local.judge_models
  }

  statement {
    sid       = "AnswerEvaluationTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = ["*"]
  }

  # the evaluator's API key (results) and a gated base model's Hub token, read by id at start
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["evaluator-api-key"], local.secret_arns["hf-token"]]
  }

  statement {
    sid       = "PullTheEvaluationImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [local.ecr_arn["evaluation"]]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.processing_log_group, "${local.processing_log_group}:*"]
  }

  # A job in a VPC: SageMaker creates its network interfaces with the job's role
  statement {
    sid       = "DescribeTheNetwork"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
    resources = ["*"]
  }

  # (the subnets' and the security group's ids are not known when the policy is planned: the
  # account's and Region's interfaces, subnets and groups; SageMaker picks those of the job's request)
  statement {
    sid     = "AttachToThePrivateSubnets"
    actions = ["ec2:CreateNetworkInterface"]
    resources = [
      "${local.arn}:ec2:${local.region_acc}:network-interface/*",
      "${local.arn}:ec2:${local.region_acc}:subnet/*",
      "${local.arn}:ec2:${local.region_acc}:security-group/*",
    ]
  }

  statement {
    sid       = "ManageTheJobsInterfaces"
    actions   = ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"]
    resources = ["${local.arn}:ec2:${local.region_acc}:network-interface/*"]
  }
}

resource "aws_iam_role_policy" "evaluation_job" {
  name   = "evaluation-job"
  role   = aws_iam_role.evaluation_job.name
  policy = data.aws_iam_policy_document.evaluation_job.json
}

# The evaluation function, as the dispatcher: start and describe the jobs, pass them their role.
data "aws_iam_policy_document" "evaluation_dispatch" {
  statement {
    sid       = "StartEvaluationJobs"
    actions   = ["sagemaker:CreateProcessingJob", "sagemaker:AddTags", "sagemaker:DescribeProcessingJob"]
    resources = [local.processing_job_arns]
  }

  statement {
    sid       = "PassTheEvaluationJobRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account_id}:role/${local.eval_job_role_name}"] # known at plan time
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "evaluation_dispatch" {
  name   = "dispatch-evaluation-jobs"
  role   = module.lambdas.role_names["${var.name}-eval"]
  policy = data.aws_iam_policy_document.evaluation_dispatch.json
}

resource "aws_security_group" "evaluation_job" {
  #checkov:skip=CKV2_AWS_5:attached by SageMaker to each evaluation job's interfaces (CreateProcessingJob's VpcConfig, EVALUATION_SECURITY_GROUP_IDS), not by a Terraform resource
  name        = "${var.name}-evaluation-job"
  description = "SageMaker evaluation jobs: HTTPS out only (S3, Bedrock, Secrets Manager, Step Functions endpoints; the API's load balancer; the Hub)"
  vpc_id      = module.network.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "evaluation_job_https" {
  security_group_id = aws_security_group.evaluation_job.id
  description       = "HTTPS: the VPC endpoints, the API's public URL, the judge's Region and the Hub through the NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# SageMaker writes the jobs' logs here; created (encrypted, with its retention) before any job runs.
resource "aws_cloudwatch_log_group" "processing_jobs" {
  #checkov:skip=CKV_AWS_338:30 days as in the platform's log retention table; the results are kept in S3 and the API
  name              = "/aws/sagemaker/ProcessingJobs"
  retention_in_days = 30
  kms_key_id        = module.platform_core.kms_key_arn
  tags              = var.tags
}

# The completion function: a job that failed or was stopped before answering fails its task.
data "aws_iam_policy_document" "evaluation_completion" {
  statement {
    sid       = "DescribeEvaluationJobs"
    actions   = ["sagemaker:DescribeProcessingJob"]
    resources = [local.processing_job_arns]
  }

  statement {
    sid       = "ReadTheJobsTask"
    actions   = ["s3:GetObject"]
    resources = ["${local.model_outputs_arn}/*"]
  }

  statement {
    sid       = "FailEvaluationTasks"
    actions   = ["states:SendTaskFailure"]
    resources = ["*"]
  }
}

module "evaluation_completion" {
  source = "../../modules/lambdas"

  kms_key_arn          = module.platform_core.kms_key_arn
  kms_key_arn_pattern  = local.kms_key_pattern
  kms_key_alias        = local.kms_alias
  tags                 = var.tags
  traced_entry_handler = local.lambda_traced_entry

  functions = {
    "${var.name}-evaluation-completion" = {
      description = "Fails the workflow's evaluation task when its SageMaker Processing job fails first"
      image_uri   = local.image_uri["evaluation"]
      entry_point = local.lambda_entry_point
      command     = ["mlops_evaluation.handler.completion_handler"]
      role_name   = "${var.name}-evaluation-completion-role"
      policy_json = data.aws_iam_policy_document.evaluation_completion.json
      timeout     = 60
      memory_size = 1024
      environment = {}
      event_rule = {
        event_pattern = jsonencode({
          source        = ["aws.sagemaker"]
          "detail-type" = ["SageMaker Processing Job State Change"]
          detail        = { ProcessingJobStatus = ["Failed", "Stopped"] }
        })
      }
    }
  }
}

# Failed evaluation jobs to the alarm topic (as failed training jobs: modules/observability)
resource "aws_cloudwatch_event_rule" "evaluation_job_failed" {
  name        = "${var.name}-evaluation-job-failed"
  description = "A SageMaker Processing job (candidate evaluation) failed"
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Processing Job State Change"]
    detail        = { ProcessingJobStatus = ["Failed"] }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "evaluation_job_failed" {
  rule      = aws_cloudwatch_event_rule.evaluation_job_failed.name
  target_id = "alarm-topic"
  arn       = module.observability.alarm_topic_arn
}
