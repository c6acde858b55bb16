# Broken on purpose: a misspelt input (mesh_nmae) and so a required one
# (mesh_name) missing. TestChecksCatchBrokenModules expects both reported.
module "mesh" {
  source = "../../modules/mesh-config"

  mesh_nmae = "shop"
  kind      = "active-active"
  regions = [
    { name = "a", kafka = { bootstrap = ["10.1.0.5:9092"] }, agents = [{ id = "a-1", host = "10.1.1.1" }] },
    { name = "b", kafka = { bootstrap = ["10.2.0.5:9092"] }, agents = [{ id = "b-1", host = "10.2.1.1" }] },
  ]
}
