terraform {
  required_version = ">= 1.9"

  required_providers {
    fastly = {
      source = "fastly/fastly"
      # The schema these modules are checked against is fastly 9.x's (checks/schemas/fastly.json).
      version = ">= 9.0, < 10.0"
    }
  }
}
