module "us_east_1" {
  source    = "../../modules/aws-region"
  providers = { aws = aws.us_east_1 }

  mesh_name               = var.mesh_name
  region_name             = "us-east-1"
  vpc_id                  = var.network["us-east-1"].vpc_id
  agents                  = local.agents["us-east-1"]
  topology_yaml           = module.mesh.topology_yaml
  environment_files       = module.mesh.environment_files
  ports                   = module.mesh.ports
  peer_cidrs              = local.peer_cidrs
  binary_url              = var.binary_url
  binary_sha256           = var.binary_sha256
  architecture            = var.architecture
  ssm_secrets             = local.ssm_secrets
  secret_environment      = module.mesh.secret_environment
  kafka_security_group_id = var.kafka["us-east-1"].security_group_id
  associate_public_ip     = var.route53_zone_id != null
  kafka_dns               = local.kafka_dns
  route53                 = var.route53_zone_id == null ? null : { zone_id = var.route53_zone_id, record_name = var.api_record_name, failover = "PRIMARY" }
}

module "eu_west_1" {
  source    = "../../modules/aws-region"
  providers = { aws = aws.eu_west_1 }

  mesh_name               = var.mesh_name
  region_name             = "eu-west-1"
  vpc_id                  = var.network["eu-west-1"].vpc_id
  agents                  = local.agents["eu-west-1"]
  topology_yaml           = module.mesh.topology_yaml
  environment_files       = module.mesh.environment_files
  ports                   = module.mesh.ports
  peer_cidrs              = local.peer_cidrs
  binary_url              = var.binary_url
  binary_sha256           = var.binary_sha256
  architecture            = var.architecture
  ssm_secrets             = local.ssm_secrets
  secret_environment      = module.mesh.secret_environment
  kafka_security_group_id = var.kafka["eu-west-1"].security_group_id
  associate_public_ip     = var.route53_zone_id != null
  kafka_dns               = local.kafka_dns
  route53                 = var.route53_zone_id == null ? null : { zone_id = var.route53_zone_id, record_name = var.api_record_name, failover = "SECONDARY" }
}

# The witness: agents and a control-plane node, no Kafka, a small instance.
module "us_west_2" {
  source    = "../../modules/aws-region"
  providers = { aws = aws.us_west_2 }

  mesh_name         = var.mesh_name
  region_name       = "us-west-2"
  witness           = true
  vpc_id            = var.network["us-west-2"].vpc_id
  agents            = local.agents["us-west-2"]
  topology_yaml     = module.mesh.topology_yaml
  environment_files = module.mesh.environment_files
  ports             = module.mesh.ports
  peer_cidrs        = local.peer_cidrs
  binary_url        = var.binary_url
  binary_sha256     = var.binary_sha256
  architecture      = var.architecture
  instance_type     = var.architecture == "arm64" ? "t4g.small" : "t3.small"
}
