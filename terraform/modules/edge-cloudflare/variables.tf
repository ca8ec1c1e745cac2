variable "account_id" {
  description = "The Cloudflare account the Worker and its KV namespaces belong to."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.account_id))
    error_message = "account_id must be a Cloudflare account id (32 hexadecimal characters)."
  }
}

variable "zone_id" {
  description = "The zone the Worker's hosts are in: the Worker must run on a zone's route or custom domain for the Cache API to keep playlists."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.zone_id))
    error_message = "zone_id must be a Cloudflare zone id (32 hexadecimal characters)."
  }
}

variable "worker_name" {
  description = "The Worker's name (topology's names.worker)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.worker_name))
    error_message = "worker_name must be 1 to 63 of a-z 0-9 -, starting with a letter or digit."
  }
}

variable "hosts" {
  description = "The hosts the Worker serves (topology's edge_hosts.cloudflare), as custom domains (Cloudflare makes their DNS records and certificates) or, with use_routes, as routes HOST/* on existing proxied records."
  type        = list(string)

  validation {
    condition     = length(var.hosts) > 0 && alltrue([for h in var.hosts : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", h))])
    error_message = "hosts must list at least one lower-case DNS name."
  }
}

variable "use_routes" {
  description = "Serve the hosts through routes (HOST/*) on DNS records you manage, instead of Worker custom domains."
  type        = bool
  default     = false
}

variable "build_dir" {
  description = "worker-build's output directory (edge/cloudflare/build after `make cloudflare-worker`), holding index.js and index_bg.wasm."
  type        = string
}

variable "compatibility_date" {
  description = "The Workers runtime date the Worker is written and tested against (edge/cloudflare/local/workerd-config.mjs's COMPATIBILITY_DATE)."
  type        = string
  default     = "2025-09-01"

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}$", var.compatibility_date))
    error_message = "compatibility_date must be a date, YYYY-MM-DD."
  }
}

variable "kv_namespace_titles" {
  description = "The KV namespaces' titles in the account (topology's names.kv_namespaces): assets, leases, health."
  type = object({
    assets = string
    leases = string
    health = string
  })
}

variable "edge_documents" {
  description = "The events, pathways and settings documents (topology's edge_documents), bound as the variables USHER_EVENTS, USHER_PATHWAYS and USHER_SETTINGS."
  type = object({
    events   = string
    pathways = string
    settings = string
  })

  validation {
    condition     = alltrue([for d in values(var.edge_documents) : can(jsondecode(d))])
    error_message = "Each document must be JSON text."
  }
}

variable "secrets" {
  description = "The edge's keys, bound as secret_text: USHER_TICKET_KEYS and USHER_SESSION_KEY, and USHER_HEALTH_KEYS and USHER_CONTENT_KEYS when used. Sensitive: pass them as TF_VAR_secrets from a secret manager, never in a file; they are kept in the (encrypted) state, never in outputs."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = alltrue([for k in keys(var.secrets) : contains(["USHER_TICKET_KEYS", "USHER_SESSION_KEY", "USHER_HEALTH_KEYS", "USHER_CONTENT_KEYS"], k)])
    error_message = "secrets may only hold USHER_TICKET_KEYS, USHER_SESSION_KEY, USHER_HEALTH_KEYS and USHER_CONTENT_KEYS."
  }
  validation {
    condition     = contains(keys(var.secrets), "USHER_TICKET_KEYS") && contains(keys(var.secrets), "USHER_SESSION_KEY")
    error_message = "secrets must hold USHER_TICKET_KEYS and USHER_SESSION_KEY: the edge answers 503 without them."
  }
}

variable "assets" {
  description = "Static assets to put in the assets namespace, by key (their path below /assets/, e.g. hls.js/1.7.4/hls.light.min.js) to a local file (make edge-assets writes target/edge-assets)."
  type        = map(string)
  default     = {}
}
