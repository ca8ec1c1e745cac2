variable "name" {
  description = "The deployment's name, prefixed to every resource."
  type        = string
  default     = "final-2026"
}

variable "home_region" {
  description = "The AWS region the provider's global calls go to."
  type        = string
  default     = "eu-west-1"
}

variable "domain" {
  description = "The DNS zone (in Route 53) for origin and ingest names."
  type        = string
  default     = "usher.example.com"
}

variable "dns_zone_id" {
  description = "The Route 53 hosted zone of domain."
  type        = string
}

variable "regions" {
  description = "The two origin regions: AWS region, zones, failover target, the region's ACM certificate (a wildcard for domain), the origin image and the channels secret."
  type = map(object({
    aws_region          = string
    zones               = list(string)
    failover_to         = string
    certificate_arn     = string
    ami_id              = string
    channels_secret_arn = string
  }))
}

variable "redis_auth_token" {
  description = "The Redis AUTH token for every region's lease store (TF_VAR_redis_auth_token)."
  type        = string
  sensitive   = true
}

variable "cloudflare_account_id" {
  description = "The Cloudflare account of the Worker."
  type        = string
}

variable "cloudflare_zone_id" {
  description = "The Cloudflare zone of the Worker's host."
  type        = string
}

variable "cloudflare_secrets" {
  description = "The Worker's keys (USHER_TICKET_KEYS, USHER_SESSION_KEY, USHER_HEALTH_KEYS, USHER_CONTENT_KEYS), as TF_VAR_cloudflare_secrets from a secret manager."
  type        = map(string)
  sensitive   = true
}

variable "fastly_package" {
  description = "The Compute package built from edge/fastly."
  type        = string
  default     = "../../../edge/fastly/pkg/usher-edge.tar.gz"
}

variable "worker_build_dir" {
  description = "worker-build's output directory."
  type        = string
  default     = "../../../edge/cloudflare/build"
}

variable "pathways" {
  description = "The CDNs: one on Fastly, one on Cloudflare, with their static weights."
  type = list(object({
    id               = string
    platform         = string
    host             = string
    static_weight_bp = number
  }))
  default = [
    { id = "cdn-a", platform = "fastly", host = "a.watch.example.com", static_weight_bp = 5000 },
    { id = "cdn-b", platform = "cloudflare", host = "b.watch.example.com", static_weight_bp = 5000 },
  ]
}

variable "events" {
  description = "The event catalog."
  type = list(object({
    id      = string
    title   = string
    region  = string
    channel = string
    key_ids = optional(list(string), [])
  }))
  default = [{ id = "final-2026", title = "The Final", region = "eu", channel = "final" }]
}

variable "ticket_audience" {
  description = "The audience (aud) the ticketing system's tickets name."
  type        = string
  default     = "usher"
}

variable "ticket_issuer" {
  description = "The issuer (iss) the ticketing system's tickets name."
  type        = string
  default     = "tickets.example.com"
}
