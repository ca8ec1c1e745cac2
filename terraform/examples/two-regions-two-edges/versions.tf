terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.25, < 7.0"
    }
    fastly = {
      source  = "fastly/fastly"
      version = ">= 9.0, < 10.0"
    }
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = ">= 5.14, < 6.0"
    }
  }

  # A live deployment keeps its state in an encrypted, locked backend (it holds the Redis token
  # and the Worker's keys), for example:
  # backend "s3" {
  #   bucket       = "example-terraform-state"
  #   key          = "usher/final-2026.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}
