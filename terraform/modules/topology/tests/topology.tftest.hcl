# Plain-plan tests of the provider-free topology: what the edges and the other modules read, and
# the inputs it must refuse.

variables {
  name   = "final-2026"
  domain = "usher.example.com"
  regions = {
    eu = { aws_region = "eu-west-1", zones = ["eu-west-1a", "eu-west-1b"], failover_to = "us" }
    us = { aws_region = "us-east-1", zones = ["us-east-1a", "us-east-1b"], failover_to = "eu" }
  }
  pathways = [
    { id = "cdn-a", platform = "fastly", host = "a.usher.example.com", static_weight_bp = 6000 },
    { id = "cdn-b", platform = "cloudflare", host = "b.usher.example.com", static_weight_bp = 4000 },
  ]
  events = [
    { id = "final-2026", title = "The Final", region = "eu", channel = "final" },
    { id = "semi-2026", title = "Semi-final", region = "us", channel = "semi", key_ids = ["semi-k1"] },
  ]
  settings = {
    ticket = { audience = "usher", issuer = "tickets.example" }
  }
}

run "events_document_names_one_origin_per_region" {
  command = plan

  assert {
    condition = jsondecode(output.edge_documents.events).origins == [
      { id = "origin-eu", base_url = "https://origin-eu.usher.example.com/" },
      { id = "origin-us", base_url = "https://origin-us.usher.example.com/" },
    ]
    error_message = "Each region must be one origin, named origin-KEY, at https://origin-KEY.DOMAIN/."
  }
  assert {
    condition = jsondecode(output.edge_documents.events).events == [
      { id = "final-2026", title = "The Final", origin = "origin-eu", origin_path = "final/" },
      { id = "semi-2026", title = "Semi-final", origin = "origin-us", origin_path = "semi/", key_ids = ["semi-k1"] },
    ]
    error_message = "An event must name its region's origin and its channel's directory, and carry key_ids only when encrypted."
  }
  assert {
    condition     = output.needs_content_keys
    error_message = "An encrypted event must make the edges need content-keys."
  }
}

run "pathways_and_settings_documents_are_the_edge_core_shapes" {
  command = plan

  assert {
    condition = jsondecode(output.edge_documents.pathways) == {
      pathways = [
        { id = "cdn-a", base_url = "https://a.usher.example.com/", static_weight_bp = 6000 },
        { id = "cdn-b", base_url = "https://b.usher.example.com/", static_weight_bp = 4000 },
      ]
    }
    error_message = "The pathways document must list every CDN with its base URL and weight, in order."
  }
  assert {
    condition = jsondecode(output.edge_documents.settings) == {
      ticket   = { audience = "usher", issuer = "tickets.example", leeway_secs = 30, query_param = "ticket", cookie = "usher_ticket" }
      session  = { ttl_secs = 600, query_param = "__token__", algorithm = "sha256" }
      playlist = { max_bytes = 65536, stale_if_error_secs = 30 }
      steering = { ttl_secs = 10 }
      leases   = { ttl_secs = 30 }
    }
    error_message = "Unset settings must take the edge core's defaults, and every field must be present."
  }
  assert {
    condition     = output.edge_hosts == { fastly = ["a.usher.example.com"], cloudflare = ["b.usher.example.com"], other = [] }
    error_message = "Each platform must serve the hosts of its own pathways."
  }
}

run "each_region_backs_up_the_regions_that_fail_over_to_it" {
  command = plan

  variables {
    regions = {
      eu = { aws_region = "eu-west-1", zones = ["eu-west-1a", "eu-west-1b"], failover_to = "us" }
      us = { aws_region = "us-east-1", zones = ["us-east-1a", "us-east-1c"], failover_to = "eu" }
      ap = { aws_region = "ap-southeast-1", zones = ["ap-southeast-1a", "ap-southeast-1b"], failover_to = "us" }
    }
  }

  assert {
    condition     = output.regions.us.backs_up == tolist(["ap", "eu"]) && output.regions.eu.backs_up == tolist(["us"]) && length(output.regions.ap.backs_up) == 0
    error_message = "backs_up must list exactly the regions whose failover_to is this one, sorted."
  }
  assert {
    condition     = output.regions.ap.origin_host == "origin-ap.usher.example.com" && output.regions.ap.name_prefix == "final-2026-ap"
    error_message = "A region's origin host and name prefix must derive from its key."
  }
  assert {
    condition     = [for o in output.origins : o.id] == ["origin-ap", "origin-eu", "origin-us"]
    error_message = "Origins must be sorted by region key."
  }
}

run "names_carry_the_deployment_name" {
  command = plan

  assert {
    condition     = output.names.fastly_stores.health == "final-2026-usher-health" && output.names.worker == "final-2026-edge"
    error_message = "Platform names are global per account: each must carry the deployment's name."
  }
}

run "refuses_a_region_with_three_zones" {
  command = plan
  variables {
    regions = {
      eu = { aws_region = "eu-west-1", zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"], failover_to = "us" }
      us = { aws_region = "us-east-1", zones = ["us-east-1a", "us-east-1b"], failover_to = "eu" }
    }
  }
  expect_failures = [var.regions]
}

run "refuses_a_zone_of_another_region" {
  command = plan
  variables {
    regions = {
      eu = { aws_region = "eu-west-1", zones = ["eu-west-1a", "us-east-1b"], failover_to = "us" }
      us = { aws_region = "us-east-1", zones = ["us-east-1a", "us-east-1b"], failover_to = "eu" }
    }
  }
  expect_failures = [var.regions]
}

run "refuses_a_failover_to_itself_or_nowhere" {
  command = plan
  variables {
    regions = {
      eu = { aws_region = "eu-west-1", zones = ["eu-west-1a", "eu-west-1b"], failover_to = "eu" }
      us = { aws_region = "us-east-1", zones = ["us-east-1a", "us-east-1b"], failover_to = "ap" }
    }
  }
  expect_failures = [var.regions]
}

run "refuses_weights_that_do_not_sum_to_10000" {
  command = plan
  variables {
    pathways = [
      { id = "cdn-a", platform = "fastly", host = "a.usher.example.com", static_weight_bp = 6000 },
      { id = "cdn-b", platform = "cloudflare", host = "b.usher.example.com", static_weight_bp = 3000 },
    ]
  }
  expect_failures = [var.pathways]
}

run "refuses_a_duplicate_pathway_and_an_unknown_platform" {
  command = plan
  variables {
    pathways = [
      { id = "cdn-a", platform = "fastly", host = "a.usher.example.com", static_weight_bp = 5000 },
      { id = "cdn-a", platform = "akamai", host = "b.usher.example.com", static_weight_bp = 5000 },
    ]
  }
  expect_failures = [var.pathways]
}

run "refuses_an_event_in_an_unknown_region" {
  command = plan
  variables {
    events = [{ id = "final-2026", title = "The Final", region = "ap", channel = "final" }]
  }
  expect_failures = [var.events]
}

run "refuses_settings_outside_the_edge_core_ranges" {
  command = plan
  variables {
    settings = {
      ticket  = { audience = "usher", issuer = "tickets.example" }
      session = { ttl_secs = 10 }
      leases  = { ttl_secs = 1000 }
    }
  }
  expect_failures = [var.settings]
}

run "refuses_a_name_that_cannot_prefix_resources" {
  command = plan
  variables {
    name = "Final_2026"
  }
  expect_failures = [var.name]
}
