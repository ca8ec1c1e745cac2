# The single source of truth for names, the region table and the edge's configuration
# documents. No provider, no resource: every other module and both edges read these values, so a
# Fastly backend, a Worker's origin URL and an origin's DNS name cannot disagree.

locals {
  regions = {
    for key, r in var.regions : key => {
      key         = key
      aws_region  = r.aws_region
      zones       = r.zones
      failover_to = r.failover_to
      # The regions this one stands in for: their origin names fail over to this region.
      backs_up    = sort([for k, o in var.regions : k if o.failover_to == key])
      name_prefix = "${var.name}-${key}"
      origin_id   = "origin-${key}"
      origin_host = "origin-${key}.${var.domain}"
    }
  }

  # One origin per region in the edge's events document. Fastly names a backend after it, and
  # both edges fetch https://origin-KEY.DOMAIN/, a name that fails over with its region.
  origins = [
    for key in sort(keys(local.regions)) : {
      id       = local.regions[key].origin_id
      host     = local.regions[key].origin_host
      base_url = "https://${local.regions[key].origin_host}/"
    }
  ]

  events_document = {
    origins = [for o in local.origins : { id = o.id, base_url = o.base_url }]
    events = [
      for e in var.events : merge(
        {
          id     = e.id
          title  = e.title
          origin = local.regions[e.region].origin_id
          # usher origin serves a channel at /{channel}/master.m3u8.
          origin_path = "${e.channel}/"
        },
        length(e.key_ids) > 0 ? { key_ids = e.key_ids } : {},
      )
    ]
  }

  pathways_document = {
    pathways = [
      for p in var.pathways : {
        id               = p.id
        base_url         = "https://${p.host}/"
        static_weight_bp = p.static_weight_bp
      }
    ]
  }

  settings_document = {
    ticket = {
      audience    = var.settings.ticket.audience
      issuer      = var.settings.ticket.issuer
      leeway_secs = var.settings.ticket.leeway_secs
      query_param = var.settings.ticket.query_param
      cookie      = var.settings.ticket.cookie
    }
    session = {
      ttl_secs    = var.settings.session.ttl_secs
      query_param = var.settings.session.query_param
      algorithm   = var.settings.session.algorithm
    }
    playlist = {
      max_bytes           = var.settings.playlist.max_bytes
      stale_if_error_secs = var.settings.playlist.stale_if_error_secs
    }
    steering = { ttl_secs = var.settings.steering.ttl_secs }
    leases   = { ttl_secs = var.settings.leases.ttl_secs }
  }

  # Names are global per account on Fastly and Cloudflare, so every one carries the deployment's
  # name; the names the edge code opens (Fastly resource links, Worker bindings) are fixed.
  names = {
    fastly_service = "${var.name}-edge"
    fastly_stores = {
      config  = "${var.name}-usher-config"
      secrets = "${var.name}-usher-secrets"
      health  = "${var.name}-usher-health"
      assets  = "${var.name}-usher-assets"
      leases  = "${var.name}-usher-leases"
    }
    worker = "${var.name}-edge"
    kv_namespaces = {
      assets = "${var.name}-usher-assets"
      leases = "${var.name}-usher-leases"
      health = "${var.name}-usher-health"
    }
    accelerator = "${var.name}-ingest"
  }
}
