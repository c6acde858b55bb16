# Inputs the module must refuse, each with the variable or output whose check
# fails. Shared valid inputs; each run breaks one thing.

variables {
  mesh_name = "shop"
  kind      = "active-passive"
  roles     = { primary = "a", standby = ["b"] }
  regions = [
    { name = "a", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "a-1", host = "10.1.1.1" }] },
    { name = "b", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "b-1", host = "10.2.1.1" }] },
    { name = "w", witness = true, agents = [{ id = "w-1", host = "10.3.1.1" }] },
  ]
  failover = { mode = "automatic" }
}

run "valid_baseline" {
  command = apply

  assert {
    condition     = length(yamldecode(output.topology_yaml).regions) == 3
    error_message = "the shared inputs are valid"
  }
}

run "mesh_name_with_dot" {
  command = plan

  variables {
    mesh_name = "shop.eu"
  }
  expect_failures = [var.mesh_name]
}

run "unknown_kind" {
  command = plan

  variables {
    kind = "ring"
  }
  expect_failures = [var.kind]
}

run "inline_password" {
  command = plan

  variables {
    regions = [
      { name = "a", kafka = { bootstrap = ["10.1.0.5:9092"], sasl = { mechanism = "SCRAM-SHA-512", username = "geomesh", password = "hunter2" } }, agents = [{ id = "a-1", host = "10.1.1.1" }] },
      { name = "b", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "b-1", host = "10.2.1.1" }] },
    ]
  }
  expect_failures = [var.regions]
}

run "witness_with_kafka" {
  command = plan

  variables {
    regions = [
      { name = "a", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "a-1", host = "10.1.1.1" }] },
      { name = "w", witness = true, kafka = { bootstrap = ["10.3.0.5:9092"] }, agents = [{ id = "w-1", host = "10.3.1.1" }] },
    ]
  }
  expect_failures = [var.regions]
}

run "duplicate_agent_id" {
  command = plan

  variables {
    regions = [
      { name = "a", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "x", host = "10.1.1.1" }] },
      { name = "b", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "x", host = "10.2.1.1" }] },
    ]
  }
  expect_failures = [var.regions]
}

run "dead_letter_without_topic" {
  command = plan

  variables {
    replication = { on_error = "dead-letter" }
  }
  expect_failures = [var.replication]
}

run "unknown_codec" {
  command = plan

  variables {
    replication = { compression = "brotli" }
  }
  expect_failures = [var.replication]
}

run "bad_duration" {
  command = plan

  variables {
    failover = { mode = "automatic", detection = { down_after = "10 seconds" } }
  }
  expect_failures = [var.failover]
}

run "hook_with_exec_and_webhook" {
  command = plan
  variables {
    failover = { hooks = [{ exec = ["true"], webhook = "https://hooks.example/geomesh" }] }
  }
  expect_failures = [var.failover]
}

run "same_port_twice" {
  command = plan

  variables {
    ports = { gossip = 8080 }
  }
  expect_failures = [var.ports]
}

run "automatic_failover_with_two_voters" {
  command = plan

  variables {
    failover = { mode = "automatic", voters = ["a", "b"] }
  }
  expect_failures = [output.topology_yaml]
}

run "primary_is_a_witness" {
  command = plan

  variables {
    roles = { primary = "w", standby = ["b"] }
  }
  expect_failures = [output.topology_yaml]
}

run "roles_of_another_kind" {
  command = plan

  variables {
    kind = "active-active"
  }
  expect_failures = [output.topology_yaml]
}
