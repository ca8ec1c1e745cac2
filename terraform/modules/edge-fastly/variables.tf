variable "service_name" {
  description = "The Compute service's name (topology's names.fastly_service)."
  type        = string

  validation {
    condition     = length(var.service_name) > 0 && length(var.service_name) <= 255
    error_message = "service_name must be 1 to 255 characters."
  }
}

variable "domains" {
  description = "The hosts the service answers on (topology's edge_hosts.fastly): each must be a pathway's host, so the edge recognises the CDN a request arrived on."
  type        = list(string)

  validation {
    condition     = length(var.domains) > 0 && alltrue([for d in var.domains : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", d))])
    error_message = "domains must list at least one lower-case DNS name."
  }
}

variable "origins" {
  description = "The origins to fetch from (topology's origins): one backend each, named after the origin's id, which is how the edge picks it."
  type = list(object({
    id   = string
    host = string
  }))

  validation {
    condition     = length(var.origins) > 0 && length(distinct([for o in var.origins : o.id])) == length(var.origins)
    error_message = "origins must list at least one origin, with unique ids."
  }
}

variable "package_path" {
  description = "The Compute package built from edge/fastly (a .tar.gz holding fastly.toml and bin/main.wasm; `fastly compute pack --wasm-binary target/wasm32-wasip1/release-fastly/usher-edge-fastly.wasm`). Its files are hashed by fastly_package_hash, so a rebuilt package with the same contents changes nothing."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".tar.gz")
    error_message = "package_path must be the Compute package, a .tar.gz file."
  }
}

variable "store_names" {
  description = "The stores' names in the Fastly account (topology's names.fastly_stores). The edge opens them by their link names (usher_config, usher_secrets, usher_health, usher_assets, usher_leases), which are fixed."
  type = object({
    config  = string
    secrets = string
    health  = string
    assets  = string
    leases  = string
  })
}

variable "edge_documents" {
  description = "The events, pathways and settings documents (topology's edge_documents), stored in the Config Store under those keys."
  type = object({
    events   = string
    pathways = string
    settings = string
  })

  validation {
    condition     = alltrue([for d in values(var.edge_documents) : can(jsondecode(d)) && length(d) <= 8000])
    error_message = "Each document must be JSON of at most 8000 characters, a Config Store item's limit."
  }
}

variable "kv_location" {
  description = "Where the KV stores' primary copies live: US, EU, ASIA or AUS (null: Fastly's default)."
  type        = string
  default     = null

  validation {
    condition     = var.kv_location == null || contains(["US", "EU", "ASIA", "AUS"], coalesce(var.kv_location, "US"))
    error_message = "kv_location must be US, EU, ASIA or AUS."
  }
}

variable "tls_certificate_authority" {
  description = "The authority Fastly gets the domains' TLS certificates from (lets-encrypt, globalsign or certainly); null to manage TLS outside this module."
  type        = string
  default     = "certainly"

  validation {
    condition     = var.tls_certificate_authority == null || contains(["lets-encrypt", "globalsign", "certainly"], coalesce(var.tls_certificate_authority, "certainly"))
    error_message = "tls_certificate_authority must be lets-encrypt, globalsign or certainly (or null)."
  }
}

variable "activate" {
  description = "Whether each applied version is activated (false leaves a draft version to activate by hand)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Whether destroy may remove an active service and non-empty stores. Leave false for a live event."
  type        = bool
  default     = false
}
