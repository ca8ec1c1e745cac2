output "service_id" {
  description = "The Compute service's id."
  value       = fastly_service_compute.this.id
}

output "active_version" {
  description = "The service version that is active after this apply."
  value       = fastly_service_compute.this.active_version
}

output "config_store_id" {
  description = "The Config Store holding the events, pathways and settings documents."
  value       = fastly_configstore.config.id
}

output "secret_store_id" {
  description = "The Secret Store to put ticket-keys, session-key, health-keys (and content-keys) into, with the Fastly CLI."
  value       = fastly_secretstore.secrets.id
}

output "kv_store_ids" {
  description = "The KV stores by role: health (the controller publishes the snapshot here, key `snapshot`), assets (the player library), leases."
  value       = { for role, store in fastly_kvstore.this : role => store.id }
}

output "controller_publish" {
  description = "The steering controller's [[publish]] table for this service's health store (docs/controller.md), as a map to write as TOML."
  value = {
    kind     = "fastly-kv-store"
    store_id = fastly_kvstore.this["health"].id
    key      = "snapshot"
  }
}
