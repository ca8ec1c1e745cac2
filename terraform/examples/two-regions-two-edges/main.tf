# An event's whole delivery: two origin regions (two zones each) behind a global ingest entry,
# and the edge on Fastly and on Cloudflare, all named and configured from one topology.

module "topology" {
  source = "../../modules/topology"

  name     = var.name
  domain   = var.domain
  regions  = { for k, r in var.regions : k => { aws_region = r.aws_region, zones = r.zones, failover_to = r.failover_to } }
  pathways = var.pathways
  events   = var.events
  settings = {
    ticket = { audience = var.ticket_audience, issuer = var.ticket_issuer }
  }
}

module "origin" {
  source   = "../../modules/origin-region"
  for_each = module.topology.regions

  name_prefix         = each.value.name_prefix
  aws_region          = each.value.aws_region
  zones               = each.value.zones
  origin_host         = each.value.origin_host
  backup_hosts        = [for k in each.value.backs_up : module.topology.regions[k].origin_host]
  dns_zone_id         = var.dns_zone_id
  certificate_arn     = var.regions[each.key].certificate_arn
  ami_id              = var.regions[each.key].ami_id
  channels_secret_arn = var.regions[each.key].channels_secret_arn
  redis_auth_token    = var.redis_auth_token
}

module "ingest" {
  source = "../../modules/ingest"

  name        = module.topology.names.accelerator
  ingest_host = "ingest.${var.domain}"
  dns_zone_id = var.dns_zone_id
  regions = {
    for k, r in module.topology.regions : k => {
      aws_region        = r.aws_region
      load_balancer_arn = module.origin[k].ingest_load_balancer_arn
    }
  }
}

module "edge_fastly" {
  source = "../../modules/edge-fastly"

  service_name   = module.topology.names.fastly_service
  domains        = module.topology.edge_hosts.fastly
  origins        = [for o in module.topology.origins : { id = o.id, host = o.host }]
  package_path   = var.fastly_package
  store_names    = module.topology.names.fastly_stores
  edge_documents = module.topology.edge_documents
}

module "edge_cloudflare" {
  source = "../../modules/edge-cloudflare"

  account_id          = var.cloudflare_account_id
  zone_id             = var.cloudflare_zone_id
  worker_name         = module.topology.names.worker
  hosts               = module.topology.edge_hosts.cloudflare
  build_dir           = var.worker_build_dir
  kv_namespace_titles = module.topology.names.kv_namespaces
  edge_documents      = module.topology.edge_documents
  secrets             = var.cloudflare_secrets
}
