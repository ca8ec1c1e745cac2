variable "name" {
  description = "The deployment's name, the prefix of every resource name (for example \"final-2026\"). Lower-case letters, digits and hyphens, 3 to 30 characters, starting with a letter."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 30 of a-z 0-9 -, start with a letter and not end with a hyphen."
  }
}

variable "domain" {
  description = "The DNS zone the origins are named in: region KEY's origin answers at origin-KEY.DOMAIN, which the CDNs fetch from over HTTPS."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case DNS name such as usher.example.com."
  }
}

variable "regions" {
  description = "The origin regions, by a short key (for example eu, us): each AWS region, its two availability zones, and the region whose origin stands in for it when it is unhealthy (failover_to)."
  type = map(object({
    aws_region  = string
    zones       = list(string)
    failover_to = string
  }))

  validation {
    condition     = length(var.regions) >= 2
    error_message = "regions needs at least two regions, so each can fail over to another."
  }
  validation {
    condition     = alltrue([for k in keys(var.regions) : can(regex("^[a-z][a-z0-9]{0,9}$", k))])
    error_message = "Each region key must be 1 to 10 of a-z 0-9, starting with a letter: it becomes part of DNS and resource names."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : length(r.zones) == 2 && length(distinct(r.zones)) == 2])
    error_message = "Each region needs exactly two distinct availability zones."
  }
  validation {
    condition = alltrue([for r in values(var.regions) : alltrue([
      for z in r.zones : startswith(z, r.aws_region) && can(regex("^[a-z]$", substr(z, length(r.aws_region), -1)))
    ])])
    error_message = "Each availability zone must be one of its region's (aws_region followed by one letter, for example eu-west-1a)."
  }
  validation {
    condition     = alltrue([for k, r in var.regions : r.failover_to != k && contains(keys(var.regions), r.failover_to)])
    error_message = "Each region's failover_to must name another region of this map."
  }
  validation {
    condition     = length(distinct([for r in values(var.regions) : r.aws_region])) == length(var.regions)
    error_message = "Two regions of the map are in the same AWS region."
  }
}

variable "pathways" {
  description = "The CDNs viewers are steered between (the edge's pathways document): an id, the platform serving it (fastly, cloudflare, or other for a CDN deployed elsewhere), the host viewers reach it at, and its static weight in basis points (the weights sum to 10000)."
  type = list(object({
    id               = string
    platform         = string
    host             = string
    static_weight_bp = number
  }))

  validation {
    condition     = length(var.pathways) > 0 && sum([for p in var.pathways : p.static_weight_bp]) == 10000
    error_message = "pathways must not be empty, and static_weight_bp must sum to 10000."
  }
  validation {
    condition     = alltrue([for p in var.pathways : can(regex("^[A-Za-z0-9._-]{1,64}$", p.id))]) && length(distinct([for p in var.pathways : p.id])) == length(var.pathways)
    error_message = "Pathway ids must be unique, 1 to 64 of A-Z a-z 0-9 - _ . (they appear in HLS attributes)."
  }
  validation {
    condition     = alltrue([for p in var.pathways : contains(["fastly", "cloudflare", "other"], p.platform)])
    error_message = "A pathway's platform must be fastly, cloudflare or other."
  }
  validation {
    condition     = alltrue([for p in var.pathways : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", p.host)) && p.static_weight_bp >= 0 && floor(p.static_weight_bp) == p.static_weight_bp])
    error_message = "A pathway's host must be a lower-case DNS name, and its weight a whole number of basis points."
  }
}

variable "events" {
  description = "The event catalog: each event's id (in viewer URLs), title, the region whose origin serves it and the origin channel (usher origin's --channel), and the content key ids of an encrypted event."
  type = list(object({
    id      = string
    title   = string
    region  = string
    channel = string
    key_ids = optional(list(string), [])
  }))

  validation {
    condition     = length(var.events) > 0 && length(distinct([for e in var.events : e.id])) == length(var.events)
    error_message = "events must not be empty, and event ids must be unique."
  }
  validation {
    condition     = alltrue([for e in var.events : can(regex("^[A-Za-z0-9._-]{1,64}$", e.id)) && can(regex("^[A-Za-z0-9_-]{1,64}$", e.channel))])
    error_message = "Event ids must be 1 to 64 of A-Z a-z 0-9 - _ . and channels 1 to 64 of A-Z a-z 0-9 - _."
  }
  validation {
    condition     = alltrue([for e in var.events : contains(keys(var.regions), e.region)])
    error_message = "Each event's region must be a key of regions."
  }
}

variable "settings" {
  description = "The edge's settings document (tickets, session tokens, playlists, steering, leases). Every field has the edge core's default; the ranges are the core's."
  type = object({
    ticket = object({
      audience    = string
      issuer      = string
      leeway_secs = optional(number, 30)
      query_param = optional(string, "ticket")
      cookie      = optional(string, "usher_ticket")
    })
    session = optional(object({
      ttl_secs    = optional(number, 600)
      query_param = optional(string, "__token__")
      algorithm   = optional(string, "sha256")
    }), {})
    playlist = optional(object({
      max_bytes           = optional(number, 65536)
      stale_if_error_secs = optional(number, 30)
    }), {})
    steering = optional(object({
      ttl_secs = optional(number, 10)
    }), {})
    leases = optional(object({
      ttl_secs = optional(number, 30)
    }), {})
  })

  validation {
    condition     = var.settings.ticket.audience != "" && var.settings.ticket.issuer != "" && var.settings.ticket.leeway_secs >= 0 && var.settings.ticket.leeway_secs <= 300
    error_message = "settings.ticket needs an audience and an issuer, and leeway_secs of at most 300."
  }
  validation {
    condition     = alltrue([for v in [var.settings.ticket.query_param, var.settings.ticket.cookie, var.settings.session.query_param] : can(regex("^[A-Za-z0-9_-]+$", v))])
    error_message = "settings' query parameter and cookie names must be non-empty tokens of A-Z a-z 0-9 - _."
  }
  validation {
    condition     = var.settings.session.ttl_secs >= 30 && var.settings.session.ttl_secs <= 3600 && contains(["sha256", "sha1", "md5"], var.settings.session.algorithm)
    error_message = "settings.session.ttl_secs must be between 30 and 3600, and algorithm one of sha256, sha1, md5."
  }
  validation {
    condition     = var.settings.playlist.max_bytes >= 1024 && var.settings.playlist.max_bytes <= 16777216 && var.settings.playlist.stale_if_error_secs >= 0 && var.settings.playlist.stale_if_error_secs <= 3600
    error_message = "settings.playlist.max_bytes must be between 1024 and 16777216, and stale_if_error_secs at most 3600."
  }
  validation {
    condition     = var.settings.steering.ttl_secs >= 5 && var.settings.steering.ttl_secs <= 300 && var.settings.leases.ttl_secs >= 10 && var.settings.leases.ttl_secs <= 600
    error_message = "settings.steering.ttl_secs must be between 5 and 300, and settings.leases.ttl_secs between 10 and 600."
  }
}
