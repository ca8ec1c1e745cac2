# --- load balancers ----------------------------------------------------------------------------

# Access logs of both load balancers. Application Load Balancers write only to buckets encrypted
# with S3-managed keys (SSE-S3), so this bucket uses them.
resource "aws_s3_bucket" "logs" {
  region        = var.aws_region
  bucket_prefix = "${var.name_prefix}-lb-logs-"
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "logs" {
  region                  = var.aws_region
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  region = var.aws_region
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  region = var.aws_region
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  region = var.aws_region
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  region = var.aws_region
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  region = var.aws_region
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "LoadBalancerLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
  }
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# The CDNs' entry: HTTPS only (no port 80 listener), TLS 1.2 and 1.3.
resource "aws_lb" "https" {
  region                     = var.aws_region
  name                       = substr("${var.name_prefix}-https", 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = [for z in var.zones : aws_subnet.public[z].id]
  security_groups            = [aws_security_group.this["https"].id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # An LL-HLS blocking playlist reload waits up to three target durations.
  idle_timeout = 60
  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "https"
    enabled = true
  }
  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "hls" {
  region               = var.aws_region
  name                 = substr("${var.name_prefix}-hls", 0, 32)
  vpc_id               = aws_vpc.this.id
  port                 = local.http_port
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  target_type          = "instance"
  deregistration_delay = 30
  # /healthz answers 503 when the node's newest segment is older than two target durations or it
  # encodes nothing (a standby), so only encoding nodes get requests.
  health_check {
    path                = "/healthz"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 5
    timeout             = 2
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  tags = local.tags
}

resource "aws_lb_listener" "https" {
  region            = var.aws_region
  load_balancer_arn = aws_lb.https.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.hls.arn
  }
  tags = local.tags
}

# The broadcasters' entry, behind the global accelerator: RTMPS (TLS terminated here, RTMP to the
# node) and SRT (encrypted by its own passphrase).
resource "aws_lb" "ingest" {
  region                           = var.aws_region
  name                             = substr("${var.name_prefix}-ingest", 0, 32)
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = [for z in var.zones : aws_subnet.public[z].id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "ingest"
    enabled = true
  }
  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "ingest" {
  for_each = {
    rtmp = { port = local.rtmp_port, protocol = "TCP" }
    srt  = { port = local.srt_port, protocol = "UDP" }
  }

  region      = var.aws_region
  name        = substr("${var.name_prefix}-${each.key}", 0, 32)
  vpc_id      = aws_vpc.this.id
  port        = each.value.port
  protocol    = each.value.protocol
  target_type = "instance"
  # A broadcaster stays on the node it reached.
  stickiness {
    enabled = true
    type    = "source_ip"
  }
  health_check {
    path                = "/healthz"
    port                = tostring(local.http_port)
    protocol            = "HTTP"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  tags = local.tags
}

resource "aws_lb_listener" "rtmps" {
  region            = var.aws_region
  load_balancer_arn = aws_lb.ingest.arn
  port              = 443
  protocol          = "TLS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest["rtmp"].arn
  }
  tags = local.tags
}

resource "aws_lb_listener" "srt" {
  region            = var.aws_region
  load_balancer_arn = aws_lb.ingest.arn
  port              = local.srt_port
  protocol          = "UDP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest["srt"].arn
  }
  tags = local.tags
}

# --- DNS: the origin names, failing over between regions -------------------------------------

# This region answers its own origin name while its load balancer has a healthy node, and the
# names of the regions it backs up when theirs has none (topology's failover_to / backs_up).
resource "aws_route53_record" "origin" {
  for_each = merge(
    { (var.origin_host) = "PRIMARY" },
    { for h in var.backup_hosts : h => "SECONDARY" },
  )

  zone_id        = var.dns_zone_id
  name           = each.key
  type           = "A"
  set_identifier = "${var.name_prefix}-${lower(each.value)}"
  failover_routing_policy {
    type = each.value
  }
  alias {
    name                   = aws_lb.https.dns_name
    zone_id                = aws_lb.https.zone_id
    evaluate_target_health = true
  }
}
