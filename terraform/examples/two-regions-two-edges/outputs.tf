output "push_urls" {
  description = "Where broadcasters push (RTMPS, SRT), through the global ingest entry."
  value       = module.ingest.push_urls
}

output "origin_hosts" {
  description = "Each region's origin name, which fails over to its failover region."
  value       = { for k, r in module.topology.regions : k => r.origin_host }
}

output "viewer_hosts" {
  description = "The hosts viewers reach each CDN at, by platform."
  value       = module.topology.edge_hosts
}

output "fastly_secret_store_id" {
  description = "Where to put the Fastly edge's keys (docs/deploy.md, \"Keys\")."
  value       = module.edge_fastly.secret_store_id
}

output "controller_publish" {
  description = "The steering controller's [[publish]] tables: the Fastly KV store and the Cloudflare KV namespace that hold the health snapshot."
  value       = [module.edge_fastly.controller_publish, module.edge_cloudflare.controller_publish]
}

output "asset_stores" {
  description = "Where to upload the player library: the Fastly KV store and the Cloudflare KV namespace for assets."
  value       = { fastly = module.edge_fastly.kv_store_ids["assets"], cloudflare = module.edge_cloudflare.kv_namespace_ids["assets"] }
}
