output "vpc_id" {
  description = "The region's VPC."
  value       = aws_vpc.this.id
}

output "https_load_balancer_dns_name" {
  description = "The CDNs' load balancer; origin_host (and the backed-up hosts, on failover) resolve to it."
  value       = aws_lb.https.dns_name
}

output "ingest_load_balancer_arn" {
  description = "The broadcasters' network load balancer, an endpoint of the ingest accelerator."
  value       = aws_lb.ingest.arn
}

output "autoscaling_group_name" {
  description = "The origin nodes' auto-scaling group (for instance refreshes after a new image)."
  value       = aws_autoscaling_group.nodes.name
}

output "redis_primary_endpoint" {
  description = "The lease store's primary endpoint (TLS, AUTH): followed through failovers by the nodes' stunnel."
  value       = aws_elasticache_replication_group.leases.primary_endpoint_address
}

output "log_groups" {
  description = "CloudWatch log groups: origin (the nodes' usher origin log), metrics (their Prometheus metrics as embedded metrics, namespace Usher/Origin), flow (VPC flow logs)."
  value = {
    origin  = aws_cloudwatch_log_group.origin.name
    metrics = aws_cloudwatch_log_group.metrics.name
    flow    = aws_cloudwatch_log_group.flow.name
  }
}
