output "accelerator_dns_name" {
  description = "The accelerator's DNS name (ingest_host is an alias of it)."
  value       = aws_globalaccelerator_accelerator.this.dns_name
}

output "static_addresses" {
  description = "The accelerator's two anycast IPv4 addresses, for broadcasters that need fixed addresses."
  value       = flatten([for s in aws_globalaccelerator_accelerator.this.ip_sets : s.ip_addresses])
}

output "push_urls" {
  description = "Where broadcasters push: RTMPS and SRT on ingest_host (append the channel's stream key or passphrase)."
  value = {
    rtmps = "rtmps://${var.ingest_host}:443/live/"
    srt   = "srt://${var.ingest_host}:9000"
  }
}
