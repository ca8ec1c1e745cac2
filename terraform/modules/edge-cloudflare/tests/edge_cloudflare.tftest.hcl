# Mocked: the cloudflare provider's schema is real (checks/schemas/cloudflare.json), its answers
# are not. The build fixtures are stand-ins for worker-build's output.

mock_provider "cloudflare" {
  mock_resource "cloudflare_workers_kv_namespace" {
    defaults = { id = "0f2ac74b498b48028cb68387c421e279" }
  }
}

variables {
  account_id  = "023e105f4ecef8ad9ca31a8372d0c353"
  zone_id     = "0da42c8d2132a9ddaf714f9e7c920711"
  worker_name = "final-2026-edge"
  hosts       = ["b.watch.example.com"]
  build_dir   = "tests/fixtures/build"
  kv_namespace_titles = {
    assets = "final-2026-usher-assets"
    leases = "final-2026-usher-leases"
    health = "final-2026-usher-health"
  }
  edge_documents = {
    events   = "{\"origins\":[],\"events\":[]}"
    pathways = "{\"pathways\":[]}"
    settings = "{}"
  }
  secrets = {
    USHER_TICKET_KEYS = "{\"tickets-2026\":\"00\"}"
    USHER_SESSION_KEY = "00"
  }
}

run "version_carries_the_shim_and_the_wasm" {
  command = apply

  assert {
    condition     = cloudflare_worker_version.this.main_module == "index.js" && toset([for m in cloudflare_worker_version.this.modules : "${m.name}=${m.content_type}"]) == toset(["index.js=application/javascript+module", "index_bg.wasm=application/wasm"])
    error_message = "The version must carry worker-build's index.js (main module) and index_bg.wasm, which it imports."
  }
  assert {
    condition     = cloudflare_workers_deployment.this.versions[0].version_id == cloudflare_worker_version.this.id && cloudflare_workers_deployment.this.versions[0].percentage == 100
    error_message = "The deployment must send all traffic to the new version."
  }
}

run "bindings_are_the_names_the_worker_reads" {
  command = apply

  assert {
    condition = toset([for b in cloudflare_worker_version.this.bindings : "${b.name}:${b.type}"]) == toset([
      "USHER_EVENTS:plain_text", "USHER_PATHWAYS:plain_text", "USHER_SETTINGS:plain_text",
      "USHER_ASSETS:kv_namespace", "USHER_LEASES:kv_namespace", "USHER_HEALTH:kv_namespace",
      "USHER_SESSION_KEY:secret_text", "USHER_TICKET_KEYS:secret_text",
    ])
    error_message = "The Worker reads three documents, three KV namespaces and its keys as secrets."
  }
}

run "custom_domains_by_default_routes_on_request" {
  command = apply

  assert {
    condition     = length(cloudflare_workers_custom_domain.this) == 1 && length(cloudflare_workers_route.this) == 0
    error_message = "Hosts are custom domains unless use_routes is set."
  }
}

run "routes_when_asked" {
  command = apply
  variables {
    use_routes = true
  }

  assert {
    condition     = cloudflare_workers_route.this["b.watch.example.com"].pattern == "b.watch.example.com/*" && length(cloudflare_workers_custom_domain.this) == 0
    error_message = "use_routes must serve HOST/* through a route instead of a custom domain."
  }
}

run "refuses_an_unknown_secret_and_a_missing_key" {
  command = plan
  variables {
    secrets = { USHER_TICKET_KEYS = "{}", USHER_SESION_KEY = "00" }
  }
  expect_failures = [var.secrets]
}
