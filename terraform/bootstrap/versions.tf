terraform {
  required_version = ">= 1.10"

  # The bootstrap's own state stays local (keep terraform.tfstate somewhere safe, or migrate it into
  # the bucket afterwards with a backend "s3" block and `terraform init -migrate-state`).
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
