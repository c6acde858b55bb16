# Renders the topology file from the inputs. Every optional part is built as
# an object whose null attributes are dropped, so the YAML holds only what the
# caller set and geomesh applies its own defaults.

locals {
  embedded_control = length(var.control_plane_urls) == 0

  # Each agent with its ports resolved.
  agent_list = flatten([for r in var.regions : [for a in r.agents : {
    id           = a.id
    region       = r.name
    witness      = r.witness
    host         = a.host
    gossip_port  = coalesce(a.gossip_port, var.ports.gossip)
    api_port     = coalesce(a.api_port, var.ports.api)
    control_port = coalesce(a.control_port, var.ports.control)
  }]])

  regions_doc = [for r in var.regions : { for k, v in {
    name    = r.name
    witness = r.witness ? true : null
    kafka = r.kafka == null ? null : { for k, v in {
      bootstrap = r.kafka.bootstrap
      embedded  = r.kafka.embedded ? true : null
      tls       = r.kafka.tls == null ? null : { for k, v in r.kafka.tls : k => v if v != null }
      sasl      = r.kafka.sasl
    } : k => v if v != null }
    agents = [for a in local.agent_list : { for k, v in {
      id      = a.id
      gossip  = "${a.host}:${a.gossip_port}"
      api     = "${a.host}:${a.api_port}"
      control = local.embedded_control ? "${a.host}:${a.control_port}" : null
    } : k => v if v != null } if a.region == r.name]
  } : k => v if v != null }]

  topology_doc = { for k, v in {
    mesh = var.mesh_name
    topology = { for k, v in {
      kind        = var.kind
      primary     = var.roles.primary
      standby     = length(var.roles.standby) > 0 ? var.roles.standby : null
      hub         = var.roles.hub
      standby_hub = var.roles.standby_hub
      spokes      = length(var.roles.spokes) > 0 ? var.roles.spokes : null
      broadcast   = var.roles.broadcast
    } : k => v if v != null }
    regions     = local.regions_doc
    topics      = var.topics
    groups      = var.groups
    naming      = var.naming
    replication = length({ for k, v in var.replication : k => v if v != null }) > 0 ? { for k, v in var.replication : k => v if v != null } : null
    failover    = length(local.failover_doc) > 0 ? local.failover_doc : null
    control_plane = { for k, v in {
      embedded = local.embedded_control ? true : null
      urls     = local.embedded_control ? null : var.control_plane_urls
    } : k => v if v != null }
    flows          = length(var.flows) > 0 ? var.flows : null
    allow_insecure = length(var.allow_insecure) > 0 ? var.allow_insecure : null
  } : k => v if v != null }

  detection_doc = { for k, v in var.failover.detection : k => v if v != null }
  failover_doc = { for k, v in {
    mode      = var.failover.mode
    stranded  = var.failover.stranded
    detection = length(local.detection_doc) > 0 ? local.detection_doc : null
    quorum    = var.failover.voters == null ? null : { voters = var.failover.voters }
    hooks     = length(var.failover.hooks) > 0 ? [for h in var.failover.hooks : { for k, v in h : k => v if v != null }] : null
  } : k => v if v != null }

  topology_yaml = join("", [
    "# Rendered by the geomesh mesh-config Terraform module; change the module\n",
    "# inputs, not this file. Check it with: geomesh validate FILE\n",
    yamlencode(local.topology_doc),
  ])

  region_names = [for r in var.regions : r.name]
  data_regions = [for r in var.regions : r.name if !r.witness]
  # Names the roles refer to; each must be a data region.
  role_names = concat(
    [for n in [var.roles.primary, var.roles.hub, var.roles.standby_hub] : n if n != null],
    var.roles.standby, var.roles.spokes,
  )
  voters = var.failover.voters == null ? local.region_names : var.failover.voters

  # Environment variables the topology reads secrets from (env:NAME); the
  # agent's host must set them, e.g. from the parameter store.
  secret_env = sort(distinct(flatten([for r in var.regions :
    r.kafka == null ? [] : r.kafka.sasl == null ? [] :
    startswith(r.kafka.sasl.password, "env:") ? [trimprefix(r.kafka.sasl.password, "env:")] : []
  ])))

  agents = { for a in local.agent_list : a.id => {
    id      = a.id
    region  = a.region
    witness = a.witness
    host    = a.host
    gossip  = "${a.host}:${a.gossip_port}"
    api     = "${a.host}:${a.api_port}"
    control = local.embedded_control ? "${a.host}:${a.control_port}" : null
    args = [
      "agent",
      "--topology", var.service.topology_path,
      "--region", a.region,
      "--id", a.id,
      "--log-format", var.service.log_format,
      "--log-level", var.service.log_level,
    ]
    environment = {
      GEOMESH_TOPOLOGY   = var.service.topology_path
      GEOMESH_REGION     = a.region
      GEOMESH_AGENT_ID   = a.id
      GEOMESH_LOG_FORMAT = var.service.log_format
      GEOMESH_LOG_LEVEL  = var.service.log_level
    }
  } }
}
