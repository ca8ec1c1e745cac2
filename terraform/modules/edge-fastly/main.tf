# Usher's edge on Fastly Compute: the service running edge/fastly's package, one backend per
# origin region, and the stores the edge opens by link name (edge/fastly/README.md).

locals {
  # The names edge/fastly opens: fixed in its code, so they are not variables.
  links = {
    usher_config  = fastly_configstore.config.id
    usher_secrets = fastly_secretstore.secrets.id
    usher_health  = fastly_kvstore.this["health"].id
    usher_assets  = fastly_kvstore.this["assets"].id
    usher_leases  = fastly_kvstore.this["leases"].id
  }
}

data "fastly_package_hash" "this" {
  filename = var.package_path
}

resource "fastly_configstore" "config" {
  name          = var.store_names.config
  force_destroy = var.force_destroy
}

# Terraform owns the three documents: a change here is the way to change the catalog, the CDNs or
# the settings (manage_entries also removes keys added by hand).
resource "fastly_configstore_entries" "config" {
  store_id       = fastly_configstore.config.id
  manage_entries = true
  entries = {
    events   = var.edge_documents.events
    pathways = var.edge_documents.pathways
    settings = var.edge_documents.settings
  }
}

# The keys are never in Terraform: Fastly's provider cannot write secret entries (by design, so
# they stay out of state); docs/deploy.md puts them with `fastly secret-store-entry create`.
resource "fastly_secretstore" "secrets" {
  name = var.store_names.secrets
}

# usher_health: the controller's signed snapshot (it writes the key `snapshot`); usher_assets: the
# player library (uploaded per version); usher_leases: written by the edge. Data, not
# configuration, so none is seeded here.
resource "fastly_kvstore" "this" {
  for_each = {
    health = var.store_names.health
    assets = var.store_names.assets
    leases = var.store_names.leases
  }

  name          = each.value
  location      = var.kv_location
  force_destroy = var.force_destroy
}

resource "fastly_service_compute" "this" {
  name          = var.service_name
  comment       = "Usher edge (managed by Terraform)"
  activate      = var.activate
  force_destroy = var.force_destroy

  dynamic "domain" {
    for_each = toset(var.domains)
    content {
      name = domain.value
    }
  }

  # Named after the origin's id: the edge sends an event's requests to the backend its origin
  # names. TLS to the origin with its certificate checked; 10 s to the first byte covers an LL-HLS
  # blocking playlist reload.
  dynamic "backend" {
    for_each = { for o in var.origins : o.id => o }
    content {
      name                  = backend.key
      address               = backend.value.host
      port                  = 443
      use_ssl               = true
      ssl_check_cert        = true
      ssl_cert_hostname     = backend.value.host
      ssl_sni_hostname      = backend.value.host
      override_host         = backend.value.host
      min_tls_version       = "1.2"
      connect_timeout       = 1000
      first_byte_timeout    = 10000
      between_bytes_timeout = 10000
      healthcheck           = "${backend.key}-healthz"
    }
  }

  # The origin's /healthz answers 503 when its newest segment is stale or it encodes nothing.
  dynamic "healthcheck" {
    for_each = { for o in var.origins : o.id => o }
    content {
      name              = "${healthcheck.key}-healthz"
      host              = healthcheck.value.host
      path              = "/healthz"
      method            = "GET"
      expected_response = 200
      check_interval    = 5000
      timeout           = 2000
      window            = 5
      threshold         = 3
      initial           = 5
    }
  }

  package {
    filename         = var.package_path
    source_code_hash = data.fastly_package_hash.this.hash
  }

  dynamic "resource_link" {
    for_each = local.links
    content {
      name        = resource_link.key
      resource_id = resource_link.value
    }
  }

  # The documents must be in the store before a version that reads them goes live.
  depends_on = [fastly_configstore_entries.config]
}

resource "fastly_tls_subscription" "this" {
  count = var.tls_certificate_authority == null ? 0 : 1

  domains               = var.domains
  certificate_authority = var.tls_certificate_authority
  depends_on            = [fastly_service_compute.this]
}
