output "topology_yaml" {
  description = "The rendered topology file. Install it on every agent host (the same file everywhere) and check it with `geomesh validate`."
  value       = local.topology_yaml

  precondition {
    condition     = alltrue([for n in local.role_names : contains(local.data_regions, n)])
    error_message = "Every role (primary, standby, hub, standby_hub, spokes) must name a data region of var.regions."
  }
  precondition {
    condition = (var.kind == "active-passive" ? var.roles.primary != null && length(var.roles.standby) > 0 && var.roles.hub == null && length(var.roles.spokes) == 0 :
      var.kind == "hub-spoke" ? var.roles.hub != null && length(var.roles.spokes) > 0 && var.roles.primary == null && length(var.roles.standby) == 0 :
    var.roles.primary == null && length(var.roles.standby) == 0 && var.roles.hub == null && length(var.roles.spokes) == 0)
    error_message = "Roles must fit the kind: active-passive takes primary and standby, hub-spoke takes hub and spokes (standby_hub and broadcast optional), active-active takes none."
  }
  precondition {
    condition     = alltrue([for v in local.voters : contains(local.region_names, v)])
    error_message = "Every failover voter must name a region of var.regions."
  }
  precondition {
    condition     = var.failover.mode == "automatic" ? length(distinct(local.voters)) >= 3 : true
    error_message = "Automatic failover needs at least three voting regions, so that a majority survives the loss of any one; add a witness region or set failover.mode = \"manual\"."
  }
  precondition {
    condition     = alltrue([for f in var.flows : contains(local.region_names, f.source) && contains(local.region_names, f.target)])
    error_message = "Every flow override must name a source and a target region of var.regions."
  }
}

output "agents" {
  description = "Service configuration of every agent, by agent id: region, witness, host, gossip/api/control addresses, the geomesh command-line arguments (args) and the environment of the systemd unit (environment)."
  value       = local.agents
}

output "environment_files" {
  description = "Content of each agent's environment file (KEY=value lines for deploy/systemd/geomesh-agent.service's EnvironmentFile), by agent id. Secrets are not in it; see secret_environment."
  value = { for id, a in local.agents : id => join("", [
    for k in sort(keys(a.environment)) : "${k}=${a.environment[k]}\n"
  ]) }
}

output "secret_environment" {
  description = "Names of the environment variables the topology reads secrets from (env:NAME references); every agent host must set them, e.g. from the parameter store."
  value       = local.secret_env
}

output "ports" {
  description = "Mesh-wide agent ports (gossip TCP+UDP, api TCP serving the API and /metrics, control TCP or null with an external control plane), for firewall and security-group rules."
  value = {
    gossip  = var.ports.gossip
    api     = var.ports.api
    control = local.embedded_control ? var.ports.control : null
  }

  precondition {
    condition     = alltrue([for a in local.agent_list : a.gossip_port == var.ports.gossip && a.api_port == var.ports.api && (!local.embedded_control || a.control_port == var.ports.control)]) || length(distinct([for a in local.agent_list : a.host])) == 1
    error_message = "Per-agent ports are for meshes on one host (every agent with the same host); across hosts every agent uses var.ports so that one set of firewall rules fits all."
  }
}

output "regions" {
  description = "Per region: witness, the agent ids and hosts, and the Kafka bootstrap servers (empty for a witness)."
  value = { for r in var.regions : r.name => {
    witness   = r.witness
    agent_ids = [for a in r.agents : a.id]
    hosts     = distinct([for a in r.agents : a.host])
    bootstrap = r.kafka == null ? [] : r.kafka.bootstrap
  } }
}
