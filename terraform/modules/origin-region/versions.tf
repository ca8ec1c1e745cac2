terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Checked against aws 6.25.0's schema (checks/schemas/aws.json). 6.x: every regional
      # resource takes `region`, so one provider configuration serves every region.
      version = ">= 6.25, < 7.0"
    }
  }
}
