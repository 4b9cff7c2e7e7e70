terraform {
  # 1.10+: the S3 backend locks with a lock file in the bucket (use_lockfile), no DynamoDB table.
  required_version = ">= 1.10"

  # Partial configuration: `terraform init -backend-config=backend.hcl` (see backend.hcl.example and
  # terraform/bootstrap, which creates the state bucket once).
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
