# The only provider configurations: modules take none. Credentials come from the environment
# (AWS_PROFILE or the like, FASTLY_API_KEY, CLOUDFLARE_API_TOKEN), never from variables.

# aws 6.x sets the region per resource, so this one configuration serves every origin region;
# its own region is where the global resources' API calls go.
provider "aws" {
  region = var.home_region
  default_tags {
    tags = { "usher:deployment" = var.name }
  }
}

provider "fastly" {}

provider "cloudflare" {}
