# mesh-config inputs equivalent to configs/examples/hub-spoke.yaml; the Go
# test renders them and compares the result with that file.
module "mesh" {
  source = "../../modules/mesh-config"

  mesh_name = "retail"
  kind      = "hub-spoke"
  roles = {
    hub         = "central"
    standby_hub = "central-2"
    spokes      = ["store-a", "store-b", "store-c"]
    broadcast   = { include = ["prices", "catalog.*"] }
  }
  regions = [for i, name in ["central", "central-2", "store-a", "store-b", "store-c"] : {
    name  = name
    kafka = { bootstrap = ["127.0.0.1:${19292 + i}"], embedded = true }
    agents = [{
      id           = "${name}-1"
      host         = "127.0.0.1"
      gossip_port  = 17966 + i
      api_port     = 18100 + i
      control_port = 16242 + i
    }]
  }]
  topics   = { include = ["sales", "inventory"] }
  failover = { mode = "automatic", voters = ["central", "central-2", "store-a"] }
}

output "topology_yaml" {
  value = module.mesh.topology_yaml
}
