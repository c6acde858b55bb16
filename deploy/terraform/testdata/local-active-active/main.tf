# mesh-config inputs equivalent to configs/examples/active-active.yaml; the
# Go test renders them and compares the result with that file.
module "mesh" {
  source = "../../modules/mesh-config"

  mesh_name = "social"
  kind      = "active-active"
  regions = [
    {
      name   = "us-east"
      kafka  = { bootstrap = ["127.0.0.1:19192"], embedded = true }
      agents = [{ id = "us-east-1", host = "127.0.0.1", gossip_port = 17956, api_port = 18090, control_port = 16232 }]
    },
    {
      name   = "eu-west"
      kafka  = { bootstrap = ["127.0.0.1:19193"], embedded = true }
      agents = [{ id = "eu-west-1", host = "127.0.0.1", gossip_port = 17957, api_port = 18091, control_port = 16233 }]
    },
    {
      name   = "ap-south"
      kafka  = { bootstrap = ["127.0.0.1:19194"], embedded = true }
      agents = [{ id = "ap-south-1", host = "127.0.0.1", gossip_port = 17958, api_port = 18092, control_port = 16234 }]
    },
  ]
  topics      = { include = ["posts", "likes", "profiles.*"] }
  naming      = "prefix"
  replication = { mode = "exactly-once", on_error = "dead-letter", dead_letter_topic = "geomesh-dead-letter" }
  failover    = { mode = "automatic", stranded = "replay" }
}

output "topology_yaml" {
  value = module.mesh.topology_yaml
}
