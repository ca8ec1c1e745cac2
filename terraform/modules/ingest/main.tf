# The broadcasters' global entry: an AWS Global Accelerator with two anycast addresses, listening
# for RTMPS (TCP 443) and SRT (UDP 9000), with one endpoint group per origin region. The
# accelerator sends each broadcaster to the nearest region that has a healthy endpoint, and to
# the next nearest when a region has none; within a region the network load balancer picks a
# healthy node in either zone. Health is the regional load balancers' own (/healthz on each node),
# the same signal that fails the CDNs' origin names over (origin-region), so a broadcaster and the
# CDNs leave an unhealthy region together.

resource "aws_globalaccelerator_accelerator" "this" {
  name            = var.name
  ip_address_type = "IPV4"
  enabled         = true

  dynamic "attributes" {
    for_each = var.flow_logs_bucket == null ? [] : [var.flow_logs_bucket]
    content {
      flow_logs_enabled   = true
      flow_logs_s3_bucket = attributes.value
      flow_logs_s3_prefix = "${var.name}/"
    }
  }
  tags = var.tags
}

resource "aws_globalaccelerator_listener" "this" {
  for_each = {
    rtmps = { protocol = "TCP", port = 443 }
    srt   = { protocol = "UDP", port = 9000 }
  }

  accelerator_arn = aws_globalaccelerator_accelerator.this.arn
  protocol        = each.value.protocol
  # A broadcaster's packets keep going to the same endpoint while it pushes.
  client_affinity = "SOURCE_IP"
  port_range {
    from_port = each.value.port
    to_port   = each.value.port
  }
}

resource "aws_globalaccelerator_endpoint_group" "this" {
  for_each = {
    for pair in setproduct(keys(aws_globalaccelerator_listener.this), keys(var.regions)) :
    "${pair[0]}-${pair[1]}" => { listener = pair[0], region = pair[1] }
  }

  listener_arn          = aws_globalaccelerator_listener.this[each.value.listener].arn
  endpoint_group_region = var.regions[each.value.region].aws_region
  # Every region takes the broadcasters nearest to it; a region without a healthy endpoint takes
  # none, whatever its dial.
  traffic_dial_percentage = 100
  endpoint_configuration {
    endpoint_id                    = var.regions[each.value.region].load_balancer_arn
    weight                         = 100
    client_ip_preservation_enabled = false
  }
}

resource "aws_route53_record" "ingest" {
  zone_id = var.dns_zone_id
  name    = var.ingest_host
  type    = "A"
  alias {
    name                   = aws_globalaccelerator_accelerator.this.dns_name
    zone_id                = aws_globalaccelerator_accelerator.this.hosted_zone_id
    evaluate_target_health = false
  }
}
