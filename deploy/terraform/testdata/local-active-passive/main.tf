# mesh-config inputs equivalent to configs/examples/active-passive.yaml; the
# Go test renders them and compares the result with that file.
module "mesh" {
  source = "../../modules/mesh-config"

  mesh_name = "shop"
  kind      = "active-passive"
  roles     = { primary = "us-east", standby = ["eu-west"] }
  regions = [
    {
      name   = "us-east"
      kafka  = { bootstrap = ["127.0.0.1:19092"], embedded = true }
      agents = [{ id = "us-east-1", host = "127.0.0.1", gossip_port = 17946, api_port = 18080, control_port = 16222 }]
    },
    {
      name   = "eu-west"
      kafka  = { bootstrap = ["127.0.0.1:19093"], embedded = true }
      agents = [{ id = "eu-west-1", host = "127.0.0.1", gossip_port = 17947, api_port = 18081, control_port = 16223 }]
    },
    {
      name    = "witness"
      witness = true
      agents  = [{ id = "witness-1", host = "127.0.0.1", gossip_port = 17948, api_port = 18082, control_port = 16224 }]
    },
  ]
  topics      = { include = ["orders.*", "payments"], exclude = [".*\\.internal"] }
  groups      = { include = [".*"] }
  naming      = "identity"
  replication = { mode = "exactly-once", on_error = "pause" }
  failover = {
    mode     = "automatic"
    stranded = "quarantine"
    voters   = ["us-east", "eu-west", "witness"]
    detection = {
      probe_interval       = "300ms"
      probe_timeout        = "200ms"
      suspicion_mult       = 2
      kafka_probe_interval = "500ms"
      down_after           = "2s"
    }
  }
}

output "topology_yaml" {
  value = module.mesh.topology_yaml
}
