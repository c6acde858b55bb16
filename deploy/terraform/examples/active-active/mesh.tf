# The mesh: every region takes writes and receives the others' topics under a
# prefix ("us-east-1.posts" in eu-west-1), so records never loop. Three
# regions vote, so losing any one leaves a majority; clients of a failed
# region move to a surviving one.
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
  kind      = "active-active"
  regions = [for region in ["us-east-1", "eu-west-1", "ap-southeast-1"] : {
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
    include = ["posts", "likes", "profiles.*"]
  }
  naming = "prefix"
  replication = {
    mode              = "exactly-once"
    on_error          = "dead-letter"
    dead_letter_topic = "geomesh-dead-letter"
  }
  failover = {
    mode     = "automatic"
    stranded = "replay"
    detection = {
      probe_interval = "2s"
      probe_timeout  = "1s"
      down_after     = "30s"
    }
  }

  # The agents' control plane and API listen on the hosts' private
  # addresses, which the security groups open to the mesh's subnets alone,
  # without TLS or tokens. Before production, give the control plane tls
  # and the API tokens (docs/security.md) and drop these.
  allow_insecure = ["control-plane-without-tls", "api-without-token"]
}
