# Renders the three topology kinds and checks the YAML field by field. The
# Go test in deploy/terraform also runs `geomesh`'s own parser on the output.

variables {
  mesh_name = "shop"
  kind      = "active-passive"
  roles = {
    primary = "us-east-1"
    standby = ["eu-west-1"]
  }
  regions = [
    {
      name   = "us-east-1"
      kafka  = { bootstrap = ["b-1.msk.us-east-1.example:9096", "b-2.msk.us-east-1.example:9096"], sasl = { mechanism = "SCRAM-SHA-512", username = "geomesh", password = "env:KAFKA_PASSWORD_US" } }
      agents = [{ id = "use1-a", host = "10.10.1.10" }, { id = "use1-b", host = "10.10.2.10" }]
    },
    {
      name   = "eu-west-1"
      kafka  = { bootstrap = ["b-1.msk.eu-west-1.example:9096"], tls = { server_name = "msk.eu-west-1.example" }, sasl = { mechanism = "SCRAM-SHA-512", username = "geomesh", password = "env:KAFKA_PASSWORD_EU" } }
      agents = [{ id = "euw1-a", host = "10.20.1.10" }]
    },
    {
      name    = "witness"
      witness = true
      agents  = [{ id = "witness-a", host = "10.30.1.10" }]
    },
  ]
  failover = {
    mode     = "automatic"
    stranded = "quarantine"
    detection = {
      probe_interval = "1s"
      down_after     = "15s"
    }
  }
  topics = { include = ["orders.*", "payments"], exclude = [".*\\.internal"] }
}

run "active_passive" {
  command = apply

  assert {
    condition     = startswith(output.topology_yaml, "# Rendered by the geomesh mesh-config")
    error_message = "The rendered file starts with a header saying where it comes from."
  }
  assert {
    condition     = yamldecode(output.topology_yaml).mesh == "shop"
    error_message = "mesh name"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).topology == { kind = "active-passive", primary = "us-east-1", standby = ["eu-west-1"] }
    error_message = "topology section: kind and roles only, nothing null"
  }
  assert {
    condition     = [for r in yamldecode(output.topology_yaml).regions : r.name] == ["us-east-1", "eu-west-1", "witness"]
    error_message = "regions in input order"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).regions[0].agents == [{ id = "use1-a", gossip = "10.10.1.10:7946", api = "10.10.1.10:8080", control = "10.10.1.10:6222" }, { id = "use1-b", gossip = "10.10.2.10:7946", api = "10.10.2.10:8080", control = "10.10.2.10:6222" }]
    error_message = "agents get the default ports and a control address (embedded control plane)"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).regions[0].kafka.sasl == { mechanism = "SCRAM-SHA-512", username = "geomesh", password = "env:KAFKA_PASSWORD_US" }
    error_message = "sasl is rendered with the password reference"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).regions[1].kafka.tls == { server_name = "msk.eu-west-1.example" }
    error_message = "tls keeps only the attributes set"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).regions[2] == { name = "witness", witness = true, agents = [{ id = "witness-a", gossip = "10.30.1.10:7946", api = "10.30.1.10:8080", control = "10.30.1.10:6222" }] }
    error_message = "a witness has no kafka key"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).failover == { mode = "automatic", stranded = "quarantine", detection = { probe_interval = "1s", down_after = "15s" } }
    error_message = "failover keeps only what was set (no quorum: geomesh defaults to every region)"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).control_plane == { embedded = true }
    error_message = "embedded control plane by default, without state_dir: the agents keep their state in geomesh's default, /var/lib/geomesh/<mesh>, which the systemd unit keeps"
  }
  assert {
    condition     = !can(yamldecode(output.topology_yaml).naming) && !can(yamldecode(output.topology_yaml).groups) && !can(yamldecode(output.topology_yaml).replication) && !can(yamldecode(output.topology_yaml).flows)
    error_message = "unset sections are left to geomesh's defaults"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).topics == { include = ["orders.*", "payments"], exclude = [".*\\.internal"] }
    error_message = "topic selection"
  }
  assert {
    condition     = output.secret_environment == tolist(["KAFKA_PASSWORD_EU", "KAFKA_PASSWORD_US"])
    error_message = "secret environment variables named by env: references, sorted"
  }
  assert {
    condition     = output.agents["euw1-a"].args == ["agent", "--topology", "/etc/geomesh/topology.yaml", "--region", "eu-west-1", "--id", "euw1-a", "--log-format", "json", "--log-level", "info"]
    error_message = "agent command line"
  }
  assert {
    condition     = output.environment_files["witness-a"] == "GEOMESH_AGENT_ID=witness-a\nGEOMESH_LOG_FORMAT=json\nGEOMESH_LOG_LEVEL=info\nGEOMESH_REGION=witness\nGEOMESH_TOPOLOGY=/etc/geomesh/topology.yaml\n"
    error_message = "environment file of the witness agent"
  }
  assert {
    condition     = output.ports == { gossip = 7946, api = 8080, control = 6222 }
    error_message = "default ports"
  }
  assert {
    condition     = jsonencode(output.regions["witness"]) == jsonencode({ witness = true, agent_ids = ["witness-a"], hosts = ["10.30.1.10"], bootstrap = [] })
    error_message = "per-region summary of the witness"
  }
}

run "active_active_external_control_plane" {
  command = apply

  variables {
    mesh_name = "social"
    kind      = "active-active"
    roles     = {}
    regions = [
      { name = "us-east", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "use-1", host = "10.1.1.1" }] },
      { name = "eu-west", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "euw-1", host = "10.2.1.1" }] },
      { name = "ap-south", kafka = { bootstrap = ["10.3.0.5:9092"] }, agents = [{ id = "aps-1", host = "10.3.1.1" }] },
    ]
    ports              = { gossip = 17946, api = 18080 }
    control_plane_urls = ["tls://nats.example:4222"]
    naming             = "prefix"
    replication        = { on_error = "dead-letter", dead_letter_topic = "geomesh-dead-letter" }
    failover           = { mode = "automatic", stranded = "replay" }
    topics             = null
  }

  assert {
    condition     = yamldecode(output.topology_yaml).topology == { kind = "active-active" }
    error_message = "active-active has no roles"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).regions[1].agents == [{ id = "euw-1", gossip = "10.2.1.1:17946", api = "10.2.1.1:18080" }]
    error_message = "overridden ports; no control address with an external control plane"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).control_plane == { urls = ["tls://nats.example:4222"] }
    error_message = "external control plane"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).replication == { on_error = "dead-letter", dead_letter_topic = "geomesh-dead-letter" }
    error_message = "replication keeps only what was set"
  }
  assert {
    condition     = output.agents["aps-1"].control == null && length(output.secret_environment) == 0 && output.ports.control == null
    error_message = "no control address or port and no secrets"
  }
}

run "hub_spoke" {
  command = apply

  variables {
    mesh_name = "retail"
    kind      = "hub-spoke"
    roles = {
      hub         = "central"
      standby_hub = "central-2"
      spokes      = ["store-a", "store-b"]
      broadcast   = { include = ["prices", "catalog.*"] }
    }
    regions = [
      { name = "central", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "central-1", host = "10.1.1.1" }] },
      { name = "central-2", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "central-2-1", host = "10.2.1.1" }] },
      { name = "store-a", kafka = { bootstrap = ["10.3.0.5:9092"] }, agents = [{ id = "store-a-1", host = "10.3.1.1" }] },
      { name = "store-b", kafka = { bootstrap = ["10.4.0.5:9092"] }, agents = [{ id = "store-b-1", host = "10.4.1.1" }] },
    ]
    failover = {
      mode   = "automatic"
      voters = ["central", "central-2", "store-a"]
      hooks = [
        { exec = ["env", "DNS_NAME=kafka.retail.example", "/usr/local/lib/geomesh/dns-bootstrap.sh"], timeout = "20s" },
        { webhook = "https://hooks.retail.example/geomesh" },
      ]
    }
    flows = [{ source = "store-a", target = "central", topics = { include = ["sales"] } }]
  }

  assert {
    condition     = yamldecode(output.topology_yaml).topology == { kind = "hub-spoke", hub = "central", standby_hub = "central-2", spokes = ["store-a", "store-b"], broadcast = { include = ["prices", "catalog.*"], exclude = [] } }
    error_message = "hub-spoke roles"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).failover.quorum == { voters = ["central", "central-2", "store-a"] }
    error_message = "quorum voters"
  }
  assert {
    condition = yamldecode(output.topology_yaml).failover.hooks == [
      { exec = ["env", "DNS_NAME=kafka.retail.example", "/usr/local/lib/geomesh/dns-bootstrap.sh"], timeout = "20s" },
      { webhook = "https://hooks.retail.example/geomesh" },
    ]
    error_message = "hooks keep only what was set"
  }
  assert {
    condition     = yamldecode(output.topology_yaml).flows == [{ source = "store-a", target = "central", topics = { include = ["sales"], exclude = null } }]
    error_message = "flow override"
  }
}
