output "topology_yaml" {
  description = "The topology every agent runs; `geomesh validate` and `geomesh plan` take it as is."
  value       = module.mesh.topology_yaml
}

output "api_urls" {
  description = "Private API/status URL of every agent, by agent id."
  value       = merge(module.us_east_1.api_urls, module.us_west_2.api_urls, module.eu_west_1.api_urls, module.ap_southeast_2.api_urls)
}
