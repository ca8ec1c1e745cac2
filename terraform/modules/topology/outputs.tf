output "names" {
  description = "Resource names derived from the deployment's name: the Fastly service and stores, the Worker and its KV namespaces, the accelerator."
  value       = local.names
}

output "regions" {
  description = "The region table, by key: AWS region, zones, failover target, the regions it backs up, its name prefix, and its origin's id and DNS name."
  value       = local.regions
}

output "origins" {
  description = "The origins the edges fetch from, one per region, sorted by key: id (a Fastly backend's name), host and base URL."
  value       = local.origins
}

output "pathways" {
  description = "The pathway table, by id: platform, host, base URL and static weight."
  value = {
    for p in var.pathways : p.id => {
      platform         = p.platform
      host             = p.host
      base_url         = "https://${p.host}/"
      static_weight_bp = p.static_weight_bp
    }
  }
}

output "edge_hosts" {
  description = "The hosts each edge platform serves, by platform (fastly, cloudflare, other)."
  value = {
    for platform in ["fastly", "cloudflare", "other"] :
    platform => [for p in var.pathways : p.host if p.platform == platform]
  }
}

output "edge_documents" {
  description = "The edge's configuration documents as JSON text (events, pathways, settings), exactly as Fastly's Config Store and the Worker's variables hold them."
  value = {
    events   = jsonencode(local.events_document)
    pathways = jsonencode(local.pathways_document)
    settings = jsonencode(local.settings_document)
  }
}

output "needs_content_keys" {
  description = "Whether an event is encrypted, so the edges must hold the content-keys secret."
  value       = anytrue([for e in var.events : length(e.key_ids) > 0])
}
