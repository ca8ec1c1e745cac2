# Mocked: the aws provider's schema is real (checks/schemas/aws.json), its answers are not.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/x/1", dns_name = "x.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" }
  }
}

variables {
  name_prefix         = "final-2026-eu"
  aws_region          = "eu-west-1"
  zones               = ["eu-west-1a", "eu-west-1b"]
  origin_host         = "origin-eu.usher.example.com"
  backup_hosts        = ["origin-us.usher.example.com"]
  dns_zone_id         = "Z0123456789ABCDEFGHIJ"
  certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  ami_id              = "ami-0123456789abcdef0"
  channels_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:usher/channels-AbCdEf"
  redis_auth_token    = "correct-horse-battery-staple"
}

run "nodes_span_both_zones_behind_a_healthz_check" {
  command = apply

  assert {
    condition     = toset(aws_autoscaling_group.nodes.vpc_zone_identifier) == toset([for z in var.zones : aws_subnet.private[z].id]) && aws_autoscaling_group.nodes.min_size == 4
    error_message = "The nodes must run in both zones' private subnets, two per zone."
  }
  assert {
    condition     = one(aws_lb_target_group.hls.health_check).path == "/healthz" && aws_autoscaling_group.nodes.health_check_type == "ELB"
    error_message = "The load balancer's health check must be the origin's /healthz, and the group must replace nodes that fail it."
  }
  assert {
    condition     = toset(aws_autoscaling_group.nodes.target_group_arns) == toset([aws_lb_target_group.hls.arn, aws_lb_target_group.ingest["rtmp"].arn, aws_lb_target_group.ingest["srt"].arn])
    error_message = "Nodes must serve HLS to the CDNs and take RTMP and SRT pushes."
  }
}

run "lease_store_fails_over_and_is_encrypted" {
  command = apply

  assert {
    condition = (aws_elasticache_replication_group.leases.num_cache_clusters == 2
      && aws_elasticache_replication_group.leases.automatic_failover_enabled
      && aws_elasticache_replication_group.leases.multi_az_enabled
      && aws_elasticache_replication_group.leases.at_rest_encryption_enabled == "true"
    && aws_elasticache_replication_group.leases.transit_encryption_enabled)
    error_message = "Redis must be a primary and a replica in two zones with automatic failover, encrypted at rest and in transit."
  }
  assert {
    condition     = toset(aws_elasticache_replication_group.leases.preferred_cache_cluster_azs) == toset(var.zones)
    error_message = "The Redis nodes must be one per zone."
  }
}

run "tls_only_and_imdsv2" {
  command = apply

  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.rtmps.protocol == "TLS" && aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The CDNs' and the broadcasters' TCP entries must be TLS 1.2+ only."
  }
  assert {
    condition     = one(aws_launch_template.node.metadata_options).http_tokens == "required" && one(one(aws_launch_template.node.block_device_mappings).ebs).encrypted == "true"
    error_message = "Nodes must require IMDSv2 and encrypt their volume."
  }
}

run "answers_its_name_as_primary_and_backs_up_the_other" {
  command = apply

  assert {
    condition     = one(aws_route53_record.origin["origin-eu.usher.example.com"].failover_routing_policy).type == "PRIMARY" && one(aws_route53_record.origin["origin-us.usher.example.com"].failover_routing_policy).type == "SECONDARY"
    error_message = "The region must be PRIMARY for its own origin name and SECONDARY for the regions it backs up."
  }
}

run "refuses_a_certificate_of_another_region" {
  command = plan
  variables {
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  }
  expect_failures = [var.certificate_arn]
}

run "refuses_a_zone_without_a_standby" {
  command = plan
  variables {
    nodes_per_zone = 1
  }
  expect_failures = [var.nodes_per_zone]
}
