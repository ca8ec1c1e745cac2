# --- origin nodes ----------------------------------------------------------------------------

resource "aws_iam_role" "node" {
  name               = "${var.name_prefix}-origin-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Session Manager instead of SSH (no key pair, no port 22), and the CloudWatch agent.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_role_policy" "node" {
  name   = "usher-origin"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
}

data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ReadItsSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.channels_secret_arn, aws_secretsmanager_secret.redis.arn]
  }
  statement {
    sid       = "DecryptThem"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }
  statement {
    sid       = "ReadTheAgentConfiguration"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.agent.arn]
  }
}

resource "aws_iam_instance_profile" "node" {
  name = "${var.name_prefix}-origin-node"
  role = aws_iam_role.node.name
  tags = local.tags
}

# The Redis AUTH token, for the nodes to read at boot (it never goes into user data, which any
# reader of the instance's attributes can see).
resource "aws_secretsmanager_secret" "redis" {
  region                  = var.aws_region
  name_prefix             = "${var.name_prefix}-redis-auth-"
  description             = "Redis AUTH token for usher origin's channel leases"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "redis" {
  region        = var.aws_region
  secret_id     = aws_secretsmanager_secret.redis.id
  secret_string = var.redis_auth_token
}

# The CloudWatch agent scrapes each node's Prometheus /metrics (encode speed, restarts, input
# switches, lease state, playlist age, publish latency) into CloudWatch as embedded metrics, and
# ships the origin's log.
resource "aws_ssm_parameter" "agent" {
  region = var.aws_region
  name   = "/usher/${var.name_prefix}/cloudwatch-agent"
  type   = "String"
  value = jsonencode({
    logs = {
      logs_collected = {
        files = {
          collect_list = [{
            file_path       = "/var/log/usher/origin.log"
            log_group_name  = aws_cloudwatch_log_group.origin.name
            log_stream_name = "{instance_id}"
          }]
        }
        prometheus = {
          log_group_name         = aws_cloudwatch_log_group.metrics.name
          prometheus_config_path = "/etc/usher/prometheus.yaml"
          emf_processor          = { metric_namespace = "Usher/Origin" }
        }
      }
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_log_group" "origin" {
  region            = var.aws_region
  name              = "/usher/${var.name_prefix}/origin"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_cloudwatch_log_group" "metrics" {
  region            = var.aws_region
  name              = "/usher/${var.name_prefix}/metrics"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_launch_template" "node" {
  region                 = var.aws_region
  name_prefix            = "${var.name_prefix}-origin-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.this["nodes"].id]
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }

  # IMDSv2 only: a token is needed to read the instance's credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 100
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.this.arn
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/node-init.sh.tftpl", {
    aws_region      = var.aws_region
    channels_secret = var.channels_secret_arn
    redis_secret    = aws_secretsmanager_secret.redis.arn
    redis_host      = aws_elasticache_replication_group.leases.primary_endpoint_address
    agent_parameter = aws_ssm_parameter.agent.name
    http_port       = local.http_port
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name_prefix}-origin" })
  }
  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }
  tags = local.tags
}

# Both zones, evenly: zones are hot-hot (each encodes every channel), and within a zone one node
# holds each channel's lease while the others stand by.
resource "aws_autoscaling_group" "nodes" {
  region                    = var.aws_region
  name_prefix               = "${var.name_prefix}-origin-"
  vpc_zone_identifier       = [for z in var.zones : aws_subnet.private[z].id]
  min_size                  = 2 * var.nodes_per_zone
  max_size                  = 2 * var.nodes_per_zone + 2
  desired_capacity          = 2 * var.nodes_per_zone
  health_check_type         = "ELB"
  health_check_grace_period = 120
  target_group_arns         = [aws_lb_target_group.hls.arn, aws_lb_target_group.ingest["rtmp"].arn, aws_lb_target_group.ingest["srt"].arn]
  # A node hands its leases over on shutdown and stays on the air until a standby publishes.
  default_instance_warmup = 60

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
      instance_warmup        = 120
    }
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# No healthy node behind the CDNs' load balancer means this region's origin name has failed
# over: page someone.
resource "aws_cloudwatch_metric_alarm" "no_healthy_origin" {
  region              = var.aws_region
  alarm_name          = "${var.name_prefix}-no-healthy-origin"
  alarm_description   = "No origin node of ${var.name_prefix} passes /healthz: ${var.origin_host} is served by its failover region."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions = {
    LoadBalancer = aws_lb.https.arn_suffix
    TargetGroup  = aws_lb_target_group.hls.arn_suffix
  }
  tags = local.tags
}

# --- Redis: channel leases -------------------------------------------------------------------

resource "aws_elasticache_subnet_group" "leases" {
  region     = var.aws_region
  name       = "${var.name_prefix}-leases"
  subnet_ids = [for z in var.zones : aws_subnet.private[z].id]
  tags       = local.tags
}

# A primary in one zone and a replica in the other; automatic failover promotes the replica and
# moves the primary endpoint, which the nodes follow (origin-transcoder/README.md: leases are
# kept through a failover). Encrypted at rest and in transit: usher origin speaks plain RESP, so
# each node runs stunnel to it (node-init.sh.tftpl).
resource "aws_elasticache_replication_group" "leases" {
  region                      = var.aws_region
  replication_group_id        = substr("${var.name_prefix}-leases", 0, 40)
  description                 = "usher origin channel leases (${var.name_prefix})"
  engine                      = "valkey"
  engine_version              = "8.0"
  node_type                   = var.redis_node_type
  port                        = 6379
  num_cache_clusters          = 2
  automatic_failover_enabled  = true
  multi_az_enabled            = true
  preferred_cache_cluster_azs = var.zones
  subnet_group_name           = aws_elasticache_subnet_group.leases.name
  security_group_ids          = [aws_security_group.this["redis"].id]
  at_rest_encryption_enabled  = true
  kms_key_id                  = aws_kms_key.this.arn
  transit_encryption_enabled  = true
  auth_token                  = var.redis_auth_token
  auth_token_update_strategy  = "ROTATE"
  snapshot_retention_limit    = 1
  auto_minor_version_upgrade  = true
  apply_immediately           = false
  tags                        = local.tags
}
