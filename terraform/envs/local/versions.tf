terraform {
  required_version = ">= 1.5"

  # The state lives outside the repository: the devstack passes its path at init
  # (-backend-config=path=...), one per emulator, since the emulator keeps everything in memory.
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
