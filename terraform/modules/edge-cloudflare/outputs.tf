output "worker_id" {
  description = "The Worker's id."
  value       = cloudflare_worker.this.id
}

output "version_id" {
  description = "The Worker version the deployment serves."
  value       = cloudflare_worker_version.this.id
}

output "kv_namespace_ids" {
  description = "The KV namespaces by role: assets, leases, health (the controller publishes the snapshot here, key `snapshot`)."
  value       = { for role, ns in cloudflare_workers_kv_namespace.this : role => ns.id }
}

output "controller_publish" {
  description = "The steering controller's [[publish]] table for this Worker's health namespace (docs/controller.md), as a map to write as TOML."
  value = {
    kind         = "cloudflare-kv"
    account_id   = var.account_id
    namespace_id = cloudflare_workers_kv_namespace.this["health"].id
    key          = "snapshot"
  }
}
