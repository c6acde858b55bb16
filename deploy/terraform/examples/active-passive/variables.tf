variable "mesh_name" {
  description = "Name of the mesh; names its control-plane subjects and its AWS resources."
  type        = string
  default     = "shop"
}

variable "network" {
  description = "Per geomesh region (us-east-1, eu-west-1 and the witness us-west-2): the VPC and the agent subnets (id and IPv4 CIDR). One agent runs in each subnet, at host number var.agent_host_number of its CIDR. The VPCs must be routed to each other (peering or Transit Gateway)."
  type = map(object({
    vpc_id = string
    subnets = list(object({
      id   = string
      cidr = string
    }))
  }))

  validation {
    condition     = toset(keys(var.network)) == toset(["us-east-1", "eu-west-1", "us-west-2"])
    error_message = "The network map needs exactly us-east-1, eu-west-1 and us-west-2."
  }
}

variable "agent_host_number" {
  description = "Host number, within its subnet's CIDR, of the fixed private IP each agent gets (cidrhost). Pick one outside the range other instances take."
  type        = number
  default     = 10
}

variable "kafka" {
  description = "The data regions' own Kafka clusters (bring your own, e.g. MSK with SASL/SCRAM on 9096): bootstrap servers, the cluster's security group (null to open it yourself) and the SASL username. The password comes from the parameter named in var.kafka_password_parameters."
  type = map(object({
    bootstrap         = list(string)
    security_group_id = optional(string)
    username          = string
  }))

  validation {
    condition     = toset(keys(var.kafka)) == toset(["us-east-1", "eu-west-1"])
    error_message = "The kafka map needs exactly the data regions us-east-1 and eu-west-1."
  }
}

variable "kafka_password_parameters" {
  description = "Name of the parameter store SecureString holding each data region's Kafka SASL password, by region (us-east-1, eu-west-1). Agents read every cluster's password from their own AWS region, so create each parameter in both data regions' AWS regions."
  type        = map(string)
}

variable "binary_url" {
  description = "s3:// or https:// URL of the geomesh linux binary for var.architecture (from `make dist`)."
  type        = string
}

variable "binary_sha256" {
  description = "SHA-256 (hex) of the binary at var.binary_url."
  type        = string
}

variable "architecture" {
  description = "Instance architecture, x86_64 or arm64, matching the binary."
  type        = string
  default     = "x86_64"
}

variable "route53_zone_id" {
  description = "Hosted zone for the failover record of the API (PRIMARY us-east-1, SECONDARY eu-west-1). Null: no DNS records, no public IPs."
  type        = string
  default     = null
}

variable "api_record_name" {
  description = "Name of the failover record in var.route53_zone_id, e.g. geomesh.example.com."
  type        = string
  default     = null
}

variable "kafka_record_name" {
  description = "Optional name in var.route53_zone_id, e.g. kafka.example.com, that the agents' failover hook (deploy/hooks/dns-bootstrap.sh) points at the Kafka cluster taking writes, for applications that cannot use a geomesh client library (docs/clients.md). Needs route53_zone_id, and both clusters' brokers on the same port. Null: no such record."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every AWS resource."
  type        = map(string)
  default     = {}
}
