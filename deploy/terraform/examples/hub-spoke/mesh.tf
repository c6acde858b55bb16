# The mesh: two store regions (eu-west-1, ap-southeast-2) feed the hub in
# us-east-1, which sees "eu-west-1.sales" and "ap-southeast-2.sales" side by
# side and broadcasts its price list back to every spoke under the same name.
# us-west-2 keeps a full copy of the hub and is promoted if the hub fails.
#
# This file uses only variables and the provider-free mesh-config module, so
# the topology renders without AWS credentials (the deploy/terraform Go test
# does exactly that and checks it with geomesh's own parser).

locals {
  agents = { for region, n in var.network : region => [
    for i, s in n.subnets : {
      id         = "${region}-${i + 1}"
      private_ip = cidrhost(s.cidr, var.agent_host_number)
      subnet_id  = s.id
    }
  ] }
  peer_cidrs = sort(flatten([for n in values(var.network) : [for s in n.subnets : s.cidr]]))

  # An agent consumes the other regions' clusters, so every agent needs every
  # cluster's password: one environment variable per cluster.
  password_env = { for region in keys(var.kafka) : region => "KAFKA_PASSWORD_${upper(replace(region, "-", "_"))}" }
  ssm_secrets  = { for region, name in local.password_env : name => var.kafka_password_parameters[region] }
}

module "mesh" {
  source = "../../modules/mesh-config"

  mesh_name = var.mesh_name
  kind      = "hub-spoke"
  roles = {
    hub         = "us-east-1"
    standby_hub = "us-west-2"
    spokes      = ["eu-west-1", "ap-southeast-2"]
    broadcast = {
      include = ["prices", "catalog.*"]
    }
  }
  regions = [for region in ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"] : {
    name = region
    kafka = {
      bootstrap = var.kafka[region].bootstrap
      tls       = {}
      sasl = {
        mechanism = "SCRAM-SHA-512"
        username  = var.kafka[region].username
        password  = "env:${local.password_env[region]}"
      }
    }
    agents = [for a in local.agents[region] : { id = a.id, host = a.private_ip }]
  }]
  topics = {
    include = ["sales", "inventory"]
  }
  failover = {
    mode   = "automatic"
    voters = ["us-east-1", "us-west-2", "eu-west-1"]
  }

  # The agents' control plane and API listen on the hosts' private
  # addresses, which the security groups open to the mesh's subnets alone,
  # without TLS or tokens. Before production, give the control plane tls
  # and the API tokens (docs/security.md) and drop these.
  allow_insecure = ["control-plane-without-tls", "api-without-token"]
}
