# Mocked: the aws provider's schema is real (checks/schemas/aws.json), its answers are not.

mock_provider "aws" {}

variables {
  name        = "final-2026-ingest"
  ingest_host = "ingest.usher.example.com"
  dns_zone_id = "Z0123456789ABCDEFGHIJ"
  regions = {
    eu = { aws_region = "eu-west-1", load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/final-2026-eu-ingest/0123456789abcdef" }
    us = { aws_region = "us-east-1", load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/final-2026-us-ingest/fedcba9876543210" }
  }
}

run "every_region_is_an_endpoint_of_both_listeners" {
  command = apply

  assert {
    condition     = toset(keys(aws_globalaccelerator_endpoint_group.this)) == toset(["rtmps-eu", "rtmps-us", "srt-eu", "srt-us"])
    error_message = "Each listener (RTMPS, SRT) needs an endpoint group per region to fail over between."
  }
  assert {
    condition     = aws_globalaccelerator_endpoint_group.this["srt-us"].endpoint_group_region == "us-east-1" && one(aws_globalaccelerator_endpoint_group.this["srt-us"].endpoint_configuration).endpoint_id == var.regions.us.load_balancer_arn
    error_message = "An endpoint group must be in its load balancer's region."
  }
  assert {
    condition     = alltrue([for g in aws_globalaccelerator_endpoint_group.this : g.traffic_dial_percentage == 100])
    error_message = "Every region takes its nearest broadcasters."
  }
}

run "listens_for_rtmps_and_srt" {
  command = apply

  assert {
    condition     = aws_globalaccelerator_listener.this["rtmps"].protocol == "TCP" && one(aws_globalaccelerator_listener.this["rtmps"].port_range).from_port == 443 && aws_globalaccelerator_listener.this["srt"].protocol == "UDP"
    error_message = "RTMPS on TCP 443, SRT on UDP 9000."
  }
}

run "refuses_a_load_balancer_of_another_region" {
  command = plan
  variables {
    regions = {
      eu = { aws_region = "eu-west-1", load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/1" }
      us = { aws_region = "us-east-1", load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/y/2" }
    }
  }
  expect_failures = [var.regions]
}
