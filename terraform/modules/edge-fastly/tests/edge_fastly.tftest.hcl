# Mocked: the fastly provider's schema is real (checks/schemas/fastly.json), its answers are not.

mock_provider "fastly" {
  mock_data "fastly_package_hash" {
    defaults = { hash = "9f3c0ffee" }
  }
  mock_resource "fastly_kvstore" {
    defaults = { id = "kv-store-id" }
  }
}

variables {
  service_name = "final-2026-edge"
  domains      = ["a.watch.example.com"]
  origins = [
    { id = "origin-eu", host = "origin-eu.usher.example.com" },
    { id = "origin-us", host = "origin-us.usher.example.com" },
  ]
  package_path = "pkg/usher-edge.tar.gz"
  store_names = {
    config  = "final-2026-usher-config"
    secrets = "final-2026-usher-secrets"
    health  = "final-2026-usher-health"
    assets  = "final-2026-usher-assets"
    leases  = "final-2026-usher-leases"
  }
  edge_documents = {
    events   = "{\"origins\":[],\"events\":[]}"
    pathways = "{\"pathways\":[]}"
    settings = "{}"
  }
}

run "one_backend_per_origin_named_after_its_id_over_tls" {
  command = apply

  assert {
    condition     = toset([for b in fastly_service_compute.this.backend : b.name]) == toset(["origin-eu", "origin-us"])
    error_message = "The edge picks a backend by its origin's id: one backend per origin, named after it."
  }
  assert {
    condition = alltrue([for b in fastly_service_compute.this.backend :
      b.use_ssl && b.ssl_check_cert && b.port == 443 && b.ssl_cert_hostname == b.address && b.first_byte_timeout == 10000
    ])
    error_message = "Backends must be HTTPS with the origin's certificate checked, and wait 10 s for a blocking reload."
  }
  assert {
    condition     = toset([for h in fastly_service_compute.this.healthcheck : h.path]) == toset(["/healthz"])
    error_message = "Each backend's health check must be the origin's /healthz."
  }
}

run "package_is_hashed_by_fastly_package_hash" {
  command = apply

  assert {
    condition     = one(fastly_service_compute.this.package).source_code_hash == "9f3c0ffee" && one(fastly_service_compute.this.package).filename == "pkg/usher-edge.tar.gz"
    error_message = "The package's source_code_hash must come from fastly_package_hash (a rebuilt tarball with the same files changes nothing)."
  }
}

run "stores_are_linked_under_the_names_the_edge_opens" {
  command = apply

  assert {
    condition     = toset([for l in fastly_service_compute.this.resource_link : l.name]) == toset(["usher_config", "usher_secrets", "usher_health", "usher_assets", "usher_leases"])
    error_message = "The edge opens usher_config, usher_secrets, usher_health, usher_assets and usher_leases."
  }
  assert {
    condition     = fastly_configstore_entries.config.entries == tomap(var.edge_documents) && fastly_configstore_entries.config.manage_entries
    error_message = "The Config Store must hold exactly the three documents, owned by Terraform."
  }
  assert {
    condition     = output.controller_publish == { kind = "fastly-kv-store", store_id = "kv-store-id", key = "snapshot" }
    error_message = "The controller must publish to the health KV store, key snapshot."
  }
}

run "refuses_a_document_over_the_config_store_limit" {
  command = plan
  variables {
    edge_documents = {
      events   = jsonencode({ pad = format("%08001d", 0) })
      pathways = "{}"
      settings = "{}"
    }
  }
  expect_failures = [var.edge_documents]
}

run "refuses_a_package_that_is_not_a_tarball" {
  command = plan
  variables {
    package_path = "target/wasm32-wasip1/release-fastly/usher-edge-fastly.wasm"
  }
  expect_failures = [var.package_path]
}
