# Inputs of the aws-region module: one geomesh region's agents on AWS. Call it
# once per region with a provider for that AWS region; the topology and the
# agent settings come from the mesh-config module, so every region runs the
# same file.

variable "mesh_name" {
  description = "Name of the mesh (mesh-config's mesh_name); prefixes the names of the AWS resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.mesh_name))
    error_message = "The mesh_name must be lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "region_name" {
  description = "The geomesh region this module runs (a name from the topology's regions, not necessarily the AWS region name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.region_name))
    error_message = "The region_name must be a topology region name: lowercase letters, digits and '-'."
  }
}

variable "witness" {
  description = "True for a witness region: its agents vote on failovers and run a control-plane node but have no Kafka cluster, no Kafka rules and no Route 53 records."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC of the agents. Its subnets must be routable from the other regions' agent subnets (peering or Transit Gateway)."
  type        = string
}

variable "agents" {
  description = "The region's agents: id (as in the topology), private_ip (the host the topology gives it; agents bind to it) and subnet_id (a subnet holding that address). One instance each."
  type = list(object({
    id         = string
    private_ip = string
    subnet_id  = string
  }))

  validation {
    condition     = length(var.agents) > 0
    error_message = "A region runs at least one agent."
  }
  validation {
    condition     = alltrue([for a in var.agents : can(cidrhost("${a.private_ip}/32", 0))])
    error_message = "Every agent's private_ip must be an IPv4 address: the agent binds to it."
  }
  validation {
    condition     = length(distinct([for a in var.agents : a.id])) == length(var.agents)
    error_message = "Agent ids must be unique."
  }
}

variable "topology_yaml" {
  description = "The rendered topology file (mesh-config's topology_yaml), installed as /etc/geomesh/topology.yaml on every agent."
  type        = string

  validation {
    condition     = can(yamldecode(var.topology_yaml).mesh)
    error_message = "The topology_yaml must be a topology file with a mesh key; pass mesh-config's topology_yaml output."
  }
}

variable "environment_files" {
  description = "Content of each agent's /etc/geomesh/geomesh.env, by agent id (mesh-config's environment_files output); must cover every agent of var.agents."
  type        = map(string)
}

variable "ports" {
  description = "Agent ports (mesh-config's ports output): gossip (TCP and UDP), api (TCP; the HTTP API and /metrics) and control (TCP; embedded NATS routes, null with an external control plane). The security group opens exactly these, from var.peer_cidrs."
  type = object({
    gossip  = number
    api     = number
    control = optional(number)
  })

  validation {
    condition     = alltrue([for p in [var.ports.gossip, var.ports.api, coalesce(var.ports.control, 1)] : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "Ports must be whole numbers from 1 to 65535."
  }
}

variable "peer_cidrs" {
  description = "IPv4 CIDRs of every agent subnet of the mesh, this region's included: the only sources allowed to reach the gossip, control and API ports."
  type        = list(string)

  validation {
    condition     = length(var.peer_cidrs) > 0 && alltrue([for c in var.peer_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "The peer_cidrs must be IPv4 CIDRs, and not 0.0.0.0/0: the agents' ports are for the mesh only."
  }
}

variable "binary_url" {
  description = "Where user data downloads the geomesh binary for the instance architecture (the output of `make dist`): an s3:// URL (read with the instance role) or an https:// URL."
  type        = string

  validation {
    condition     = can(regex("^(s3|https)://.+", var.binary_url))
    error_message = "The binary_url must start with s3:// or https://."
  }
}

variable "binary_sha256" {
  description = "SHA-256 of the geomesh binary, hex; user data refuses a download that does not match."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "The binary_sha256 must be 64 lowercase hex digits."
  }
}

variable "architecture" {
  description = "CPU architecture of the instances, x86_64 or arm64; picks the Amazon Linux 2023 image when ami_id is null. Must match binary_url and instance_type."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI of the agents. Null: the latest Amazon Linux 2023 image for var.architecture, from the public parameter store. The image needs systemd, curl and the AWS CLI."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "EC2 instance type of the agents. A data-region agent copies records, so it wants network bandwidth more than CPU; a witness can be small."
  type        = string
  default     = "t3.medium"
}

variable "root_volume_gb" {
  description = "Size of each agent's encrypted root volume in GiB (holds the embedded NATS state in /var/lib/geomesh)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_gb >= 8
    error_message = "The root_volume_gb must be at least 8."
  }
}

variable "ssm_secrets" {
  description = "Secrets for the agents' environment: environment variable name (as in the topology's env:NAME references, mesh-config's secret_environment) => name of a parameter store parameter (SecureString). User data writes them to /etc/geomesh/secrets.env (mode 0600)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.ssm_secrets : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k)) && startswith(v, "/")])
    error_message = "Keys must be environment variable names and values absolute parameter names (/geomesh/...)."
  }
}

variable "secret_environment" {
  description = "Environment variables the topology reads secrets from (mesh-config's secret_environment); each must be a key of var.ssm_secrets. A witness reads none."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the SecureString parameters, if not the AWS-managed aws/ssm key; the agents' role may decrypt with it."
  type        = string
  default     = null
}

variable "kafka_security_group_id" {
  description = "Security group of the region's own Kafka cluster (e.g. MSK). If set, the module lets the agents reach var.kafka_ports on it. Null: you open Kafka to the agents yourself. Not for a witness."
  type        = string
  default     = null
}

variable "kafka_ports" {
  description = "Kafka listener ports the agents use on the cluster of var.kafka_security_group_id (MSK: 9092 plaintext, 9094 TLS, 9096 SASL/SCRAM, 9098 IAM)."
  type        = list(number)
  default     = [9094, 9096]
}

variable "associate_public_ip" {
  description = "Give each agent a public IP. Needed only for Route 53 health checks (var.route53); the mesh itself talks over private addresses."
  type        = bool
  default     = false
}

variable "kafka_dns" {
  description = <<-EOT
    Optional DNS name for applications that cannot use a geomesh client
    library: zone_id and record_name of the Route 53 record that the failover
    hook deploy/hooks/dns-bootstrap.sh, installed on the agents as
    /usr/local/lib/geomesh/dns-bootstrap.sh, points at the Kafka cluster that
    takes writes. The agents may change that record and no other; the
    topology's failover.hooks must run the script (see the active-passive
    example).
  EOT
  type = object({
    zone_id     = string
    record_name = string
  })
  default = null
}

variable "route53" {
  description = <<-EOT
    Optional failover DNS record for the region's API: zone_id, record_name,
    failover (PRIMARY or SECONDARY) and ttl. The record holds the agents' public
    IPs and answers while at least one agent's /readyz is healthy; the API port
    is then open to the Route 53 health checkers. Needs associate_public_ip.
  EOT
  type = object({
    zone_id     = string
    record_name = string
    failover    = string
    ttl         = optional(number, 30)
  })
  default = null

  validation {
    condition     = var.route53 == null ? true : contains(["PRIMARY", "SECONDARY"], var.route53.failover)
    error_message = "The route53.failover must be PRIMARY or SECONDARY."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}
