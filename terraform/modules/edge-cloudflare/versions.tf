terraform {
  required_version = ">= 1.9"

  required_providers {
    cloudflare = {
      source = "cloudflare/cloudflare"
      # Checked against cloudflare 5.14.0's schema (checks/schemas/cloudflare.json); the
      # worker / worker_version / workers_deployment resources are 5.x's.
      version = ">= 5.14, < 6.0"
    }
  }
}
