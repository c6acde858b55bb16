# The mesh: us-east-1 takes writes, eu-west-1 holds an identical copy and is
# promoted if us-east-1 fails; us-west-2 is a witness that only votes, so
# losing either data region leaves a majority (2 of 3) for the decision.
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

  # An agent consumes the other data regions' clusters, so every data-region
  # agent needs every cluster's password: one variable per cluster.
  password_env = { for region in keys(var.kafka) : region => "KAFKA_PASSWORD_${upper(replace(region, "-", "_"))}" }
  ssm_secrets  = { for region, name in local.password_env : name => var.kafka_password_parameters[region] }

  # The Kafka DNS name's hook asks the agents (mesh-config's default API
  # port) which cluster takes writes, and upserts the record in Route 53.
  kafka_dns = var.kafka_record_name == null || var.route53_zone_id == null ? null : {
    zone_id     = var.route53_zone_id
    record_name = var.kafka_record_name
  }
  kafka_dns_hooks = local.kafka_dns == null ? [] : [{
    exec = [
      "env", "DNS_NAME=${var.kafka_record_name}", "ROUTE53_ZONE_ID=${var.route53_zone_id}",
      "GEOMESH_AGENTS=${join(" ", [for a in flatten(values(local.agents)) : "http://${a.private_ip}:8080"])}",
      "/usr/local/lib/geomesh/dns-bootstrap.sh",
    ]
    timeout = "30s"
  }]
}

module "mesh" {
  source = "../../modules/mesh-config"

  mesh_name = var.mesh_name
  kind      = "active-passive"
  roles = {
    primary = "us-east-1"
    standby = ["eu-west-1"]
  }
  regions = [for region in ["us-east-1", "eu-west-1", "us-west-2"] : {
    name    = region
    witness = region == "us-west-2"
    kafka = region == "us-west-2" ? null : {
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
    include = ["orders.*", "payments"]
    exclude = [".*\\.internal"]
  }
  naming = "identity"
  failover = {
    mode     = "automatic"
    stranded = "quarantine"
    voters   = ["us-east-1", "eu-west-1", "us-west-2"]
    # Regions an ocean apart: longer probe timeout and down_after than the
    # defaults, so a slow transatlantic round trip is not a failure.
    detection = {
      probe_interval = "2s"
      probe_timeout  = "1s"
      down_after     = "30s"
    }
    hooks = local.kafka_dns_hooks
  }

  # The agents' control plane and API listen on the hosts' private
  # addresses, which the security groups open to the mesh's subnets alone,
  # without TLS or tokens. Before production, give the control plane tls
  # and the API tokens (docs/security.md) and drop these.
  allow_insecure = ["control-plane-without-tls", "api-without-token"]
}
