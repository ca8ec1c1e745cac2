variable "name_prefix" {
  description = "Prefix of every resource name (topology's regions[KEY].name_prefix)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}$", var.name_prefix))
    error_message = "name_prefix must be 2 to 39 of a-z 0-9 -, starting with a letter."
  }
}

variable "aws_region" {
  description = "The AWS region (topology's regions[KEY].aws_region); set as every resource's region, so one aws provider serves all regions."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-\\d$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as eu-west-1."
  }
}

variable "zones" {
  description = "The region's two availability zones (topology's regions[KEY].zones): a subnet pair, origin nodes and a Redis node in each."
  type        = list(string)

  validation {
    condition     = length(var.zones) == 2 && length(distinct(var.zones)) == 2
    error_message = "zones must be exactly two distinct availability zones."
  }
  validation {
    condition     = alltrue([for z in var.zones : startswith(z, var.aws_region)])
    error_message = "Both zones must be in aws_region."
  }
}

variable "vpc_cidr" {
  description = "The VPC's address range (a /16 to /20); public and private subnets are carved from it per zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 range from /16 to /20."
  }
}

variable "origin_host" {
  description = "The origin's DNS name (topology's regions[KEY].origin_host), which the CDNs fetch from over HTTPS; this region answers it as the primary."
  type        = string
}

variable "backup_hosts" {
  description = "The origin names of the regions this one backs up (topology's origin hosts of regions[KEY].backs_up): this region answers them when their own region is unhealthy."
  type        = list(string)
  default     = []
}

variable "dns_zone_id" {
  description = "The Route 53 hosted zone the origin names are in."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{1,31}$", var.dns_zone_id))
    error_message = "dns_zone_id must be a Route 53 hosted zone id (Z...)."
  }
}

variable "certificate_arn" {
  description = "An ACM certificate in this region for origin_host, the backup hosts and the ingest name (a wildcard for the domain covers all): the load balancers' TLS listeners use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:${var.aws_region}:\\d{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN in aws_region (load balancers only use certificates of their own region)."
  }
}

variable "ami_id" {
  description = "The origin nodes' image: Linux with usher (target/release/usher), FFmpeg, stunnel and the AWS CLI installed (docs/deploy.md, \"The origin image\")."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id (ami-...)."
  }
}

variable "instance_type" {
  description = "The origin nodes' instance type: each node encodes every channel's ladder (about 4 vCPU per 1080p ladder with x264 veryfast)."
  type        = string
  default     = "c7i.2xlarge"
}

variable "nodes_per_zone" {
  description = "Origin nodes per zone: one encodes each channel, the others stand by and take over its lease."
  type        = number
  default     = 2

  validation {
    condition     = var.nodes_per_zone >= 2 && var.nodes_per_zone <= 20
    error_message = "nodes_per_zone must be 2 to 20: a zone with one node has no standby."
  }
}

variable "channels_secret_arn" {
  description = "A Secrets Manager secret (made outside Terraform) holding the channels' part of usher origin's TOML configuration ([[channel]] tables, with stream keys and SRT passphrases). Nodes read it at boot; Terraform never sees its value."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:${var.aws_region}:\\d{12}:secret:.+$", var.channels_secret_arn))
    error_message = "channels_secret_arn must be a Secrets Manager secret ARN in aws_region."
  }
}

variable "redis_auth_token" {
  description = "The Redis AUTH token (16 to 128 printable characters, no spaces, quotes, @ or /). Sensitive: pass it as TF_VAR_redis_auth_token from a secret manager. It is kept in the (encrypted) state and in a Secrets Manager secret the nodes read, never in outputs."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[!#-.0-?A-~]{16,128}$", var.redis_auth_token)) && !can(regex("[\"'@/ ]", var.redis_auth_token))
    error_message = "redis_auth_token must be 16 to 128 printable characters without spaces, quotes, @ or /."
  }
}

variable "redis_node_type" {
  description = "The Redis (Valkey) nodes' type; leases are a few keys, so the smallest is plenty."
  type        = string
  default     = "cache.t4g.small"
}

variable "cdn_cidrs" {
  description = "The address ranges allowed to fetch from the origin over HTTPS (the CDNs' published ranges; 0.0.0.0/0 when a CDN publishes none)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.cdn_cidrs) > 0 && alltrue([for c in var.cdn_cidrs : can(cidrhost(c, 0))])
    error_message = "cdn_cidrs must list IPv4 ranges."
  }
}

variable "log_retention_days" {
  description = "How long flow logs and the nodes' logs are kept."
  type        = number
  default     = 90

  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention period (30 to 3653 days)."
  }
}

variable "deletion_protection" {
  description = "Protect the load balancers against deletion (turn off before destroying the region)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
