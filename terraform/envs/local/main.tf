# The platform's AWS resources on the local emulator: modules/platform_core, as envs/prod applies it,
# pointed at the emulator's endpoint with its fake credentials. Nothing here declares a resource of
# its own; the arguments are what the emulator needs and envs/prod does not.

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

module "platform_core" {
  source = "../../modules/platform_core"

  inference_image          = var.inference_image
  approval_timeout_seconds = var.approval_timeout_seconds
  tags                     = var.tags

  # Nothing here outlives the emulator process: delete at once, buckets with their objects.
  kms_deletion_window_in_days     = 7
  secrets_recovery_window_in_days = 0
  force_destroy_buckets           = true
  # The emulator speaks plain HTTP on 127.0.0.1: a TLS-only bucket policy would deny every request.
  attach_deny_insecure_transport_policy = false
}

# The modules were called from here before modules/platform_core held them.
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
