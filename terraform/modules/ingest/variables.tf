variable "name" {
  description = "The accelerator's name (topology's names.accelerator)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,64}$", var.name))
    error_message = "name must be 1 to 64 of A-Z a-z 0-9 -."
  }
}

variable "regions" {
  description = "The origin regions' ingest entries, by region key: the AWS region and its network load balancer (origin-region's ingest_load_balancer_arn)."
  type = map(object({
    aws_region        = string
    load_balancer_arn = string
  }))

  validation {
    condition     = length(var.regions) >= 2
    error_message = "regions needs at least two regions to fail over between."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : can(regex("^arn:aws[a-z-]*:elasticloadbalancing:${r.aws_region}:\\d{12}:loadbalancer/net/", r.load_balancer_arn))])
    error_message = "Each load_balancer_arn must be a network load balancer in that entry's aws_region (an accelerator endpoint group only takes load balancers of its own region)."
  }
}

variable "ingest_host" {
  description = "The name broadcasters push to (for example ingest.usher.example.com), an alias of the accelerator; the regions' certificates must cover it (RTMPS terminates at the regional load balancer)."
  type        = string
}

variable "dns_zone_id" {
  description = "The Route 53 hosted zone ingest_host is in."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{1,31}$", var.dns_zone_id))
    error_message = "dns_zone_id must be a Route 53 hosted zone id (Z...)."
  }
}

variable "flow_logs_bucket" {
  description = "An S3 bucket (private, encrypted, outside this module) for the accelerator's flow logs; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
