# Usher's edge as a Cloudflare Worker: the worker, a version carrying worker-build's JS shim and
# wasm module with its bindings, a deployment sending all traffic to that version, the KV
# namespaces and the hosts it serves (edge/cloudflare/README.md).

locals {
  # The binding names edge/cloudflare reads: fixed in its code.
  documents = {
    USHER_EVENTS   = var.edge_documents.events
    USHER_PATHWAYS = var.edge_documents.pathways
    USHER_SETTINGS = var.edge_documents.settings
  }
  namespaces = {
    USHER_ASSETS = cloudflare_workers_kv_namespace.this["assets"].id
    USHER_LEASES = cloudflare_workers_kv_namespace.this["leases"].id
    USHER_HEALTH = cloudflare_workers_kv_namespace.this["health"].id
  }
}

resource "cloudflare_workers_kv_namespace" "this" {
  for_each = var.kv_namespace_titles

  account_id = var.account_id
  title      = each.value
}

resource "cloudflare_workers_kv" "assets" {
  for_each = var.assets

  account_id   = var.account_id
  namespace_id = cloudflare_workers_kv_namespace.this["assets"].id
  key_name     = each.key
  value        = file(each.value)
}

resource "cloudflare_worker" "this" {
  account_id = var.account_id
  name       = var.worker_name

  # Logs on: the access lines and QoE events are console.log lines (Workers Logs, Logpush).
  observability = {
    enabled = true
  }
  # Only on the zone's hosts: the Cache API does not keep playlists on workers.dev.
  subdomain = {
    enabled = false
  }
}

resource "cloudflare_worker_version" "this" {
  account_id         = var.account_id
  worker_id          = cloudflare_worker.this.id
  compatibility_date = var.compatibility_date
  main_module        = "index.js"

  # worker-build's bundle imports the wasm as "./index_bg.wasm". abspath: the provider compares
  # the files' contents, not their paths, but a relative path changes with the working directory.
  modules = [
    {
      name         = "index.js"
      content_type = "application/javascript+module"
      content_file = abspath("${var.build_dir}/index.js")
    },
    {
      name         = "index_bg.wasm"
      content_type = "application/wasm"
      content_file = abspath("${var.build_dir}/index_bg.wasm")
    },
  ]

  bindings = concat(
    [for name, text in local.documents : { name = name, type = "plain_text", text = text }],
    [for name, id in local.namespaces : { name = name, type = "kv_namespace", namespace_id = id }],
    [for name in sort(nonsensitive(keys(var.secrets))) : { name = name, type = "secret_text", text = var.secrets[name] }],
  )

  # A version is immutable: a new one is made first, then the deployment moves to it.
  lifecycle {
    create_before_destroy = true
  }
}

resource "cloudflare_workers_deployment" "this" {
  account_id  = var.account_id
  script_name = cloudflare_worker.this.name
  strategy    = "percentage"
  versions = [
    {
      version_id = cloudflare_worker_version.this.id
      percentage = 100
    },
  ]
}

resource "cloudflare_workers_custom_domain" "this" {
  for_each = var.use_routes ? toset([]) : toset(var.hosts)

  account_id = var.account_id
  zone_id    = var.zone_id
  hostname   = each.value
  service    = cloudflare_worker.this.name
  depends_on = [cloudflare_workers_deployment.this]
}

resource "cloudflare_workers_route" "this" {
  for_each = var.use_routes ? toset(var.hosts) : toset([])

  zone_id    = var.zone_id
  pattern    = "${each.value}/*"
  script     = cloudflare_worker.this.name
  depends_on = [cloudflare_workers_deployment.this]
}
