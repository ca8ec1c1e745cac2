# One origin region: a VPC over two availability zones, origin nodes running `usher origin` in an
# auto-scaling group across both, an HTTPS load balancer for the CDNs (health check: the origin's
# /healthz), a network load balancer for broadcasters (RTMPS, SRT), a Valkey/Redis replication
# group for channel leases with automatic failover, logs and metrics.
#
# Segments are not in object storage: each node keeps the live window in memory and writes the
# event's segments to its encrypted volume (usher origin --data), and zones are interchangeable
# because numbering is epoch-locked (origin-transcoder/README.md).

locals {
  zones = { for i, z in var.zones : z => i }
  tags  = merge(var.tags, { "usher:region" = var.name_prefix })
  # The origin's ports (origin-transcoder/README.md): HLS and /healthz, /metrics; RTMP; SRT.
  http_port = 8081
  rtmp_port = 1935
  srt_port  = 9000
}

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}

# --- keys ------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  region                  = var.aws_region
  description             = "${var.name_prefix}: logs, volumes, Redis and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  region        = var.aws_region
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.this.partition}:iam::${data.aws_caller_identity.this.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }
  }
}

# --- network ---------------------------------------------------------------------------------

resource "aws_vpc" "this" {
  region               = var.aws_region
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name_prefix })
}

# No rule: nothing may use the default security group.
resource "aws_default_security_group" "this" {
  region = var.aws_region
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_subnet" "public" {
  for_each = local.zones

  region            = var.aws_region
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, each.value)
  tags              = merge(local.tags, { Name = "${var.name_prefix}-public-${each.key}" })
}

resource "aws_subnet" "private" {
  for_each = local.zones

  region            = var.aws_region
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, each.value + 8)
  tags              = merge(local.tags, { Name = "${var.name_prefix}-private-${each.key}" })
}

resource "aws_internet_gateway" "this" {
  region = var.aws_region
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_route_table" "public" {
  region = var.aws_region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name_prefix}-public" })
}

resource "aws_route" "public_default" {
  region                 = var.aws_region
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = local.zones

  region         = var.aws_region
  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public.id
}

# One NAT gateway per zone, so a zone's nodes keep their way out (Secrets Manager, CloudWatch)
# when the other zone fails.
resource "aws_eip" "nat" {
  for_each = local.zones

  region = var.aws_region
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name_prefix}-nat-${each.key}" })
}

resource "aws_nat_gateway" "this" {
  for_each = local.zones

  region        = var.aws_region
  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id
  tags          = merge(local.tags, { Name = "${var.name_prefix}-${each.key}" })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  for_each = local.zones

  region = var.aws_region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name_prefix}-private-${each.key}" })
}

resource "aws_route" "private_default" {
  for_each = local.zones

  region                 = var.aws_region
  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = local.zones

  region         = var.aws_region
  subnet_id      = aws_subnet.private[each.key].id
  route_table_id = aws_route_table.private[each.key].id
}

resource "aws_flow_log" "this" {
  region               = var.aws_region
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow.arn
  tags                 = local.tags
}

resource "aws_cloudwatch_log_group" "flow" {
  region            = var.aws_region
  name              = "/usher/${var.name_prefix}/flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_iam_role" "flow" {
  name               = "${var.name_prefix}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "flow" {
  name   = "flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

# --- security groups -------------------------------------------------------------------------

resource "aws_security_group" "this" {
  for_each = {
    https = "The HTTPS load balancer: the CDNs fetch playlists and segments"
    nodes = "Origin nodes: HLS from the load balancers, pushes from broadcasters"
    redis = "Channel leases: Redis from the origin nodes only"
  }

  region      = var.aws_region
  name        = "${var.name_prefix}-${each.key}"
  description = each.value
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-${each.key}" })
}

resource "aws_vpc_security_group_ingress_rule" "https_from_cdns" {
  for_each = toset(var.cdn_cidrs)

  region            = var.aws_region
  security_group_id = aws_security_group.this["https"].id
  description       = "HTTPS from the CDNs"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "https_to_nodes" {
  region                       = var.aws_region
  security_group_id            = aws_security_group.this["https"].id
  description                  = "HLS and health checks to the origin nodes"
  referenced_security_group_id = aws_security_group.this["nodes"].id
  ip_protocol                  = "tcp"
  from_port                    = local.http_port
  to_port                      = local.http_port
}

resource "aws_vpc_security_group_ingress_rule" "nodes" {
  for_each = {
    http_from_alb = { protocol = "tcp", port = local.http_port, cidr = null, sg = aws_security_group.this["https"].id, what = "HLS and health checks from the HTTPS load balancer" }
    http_from_nlb = { protocol = "tcp", port = local.http_port, cidr = var.vpc_cidr, sg = null, what = "Health checks from the network load balancer" }
    # The network load balancer keeps broadcasters' addresses: pushes come from anywhere.
    rtmp = { protocol = "tcp", port = local.rtmp_port, cidr = "0.0.0.0/0", sg = null, what = "RTMP from broadcasters, through the network load balancer" }
    srt  = { protocol = "udp", port = local.srt_port, cidr = "0.0.0.0/0", sg = null, what = "SRT from broadcasters, through the network load balancer" }
  }

  region                       = var.aws_region
  security_group_id            = aws_security_group.this["nodes"].id
  description                  = each.value.what
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.port
  to_port                      = each.value.port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.sg
}

# Nodes reach AWS APIs and the NAT over HTTPS, and Redis over TLS.
resource "aws_vpc_security_group_egress_rule" "nodes_https" {
  region            = var.aws_region
  security_group_id = aws_security_group.this["nodes"].id
  description       = "AWS APIs (Secrets Manager, CloudWatch, SSM) over HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "nodes_redis" {
  region                       = var.aws_region
  security_group_id            = aws_security_group.this["nodes"].id
  description                  = "Redis (TLS) for channel leases"
  referenced_security_group_id = aws_security_group.this["redis"].id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_nodes" {
  region                       = var.aws_region
  security_group_id            = aws_security_group.this["redis"].id
  description                  = "Redis (TLS) from the origin nodes"
  referenced_security_group_id = aws_security_group.this["nodes"].id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
