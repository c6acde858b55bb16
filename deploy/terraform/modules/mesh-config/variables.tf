# Inputs of the mesh-config module. They mirror the topology file
# (topology/model.go, configs/topology.schema.json); a value left null is
# left out of the rendered file, so geomesh applies its own default and the
# defaults live in one place.

variable "mesh_name" {
  description = "Name of the mesh: lowercase letters, digits and '-', at most 63 characters. It names the control-plane subjects (geomesh.<mesh>.events) and geomesh's own topics."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.mesh_name))
    error_message = "The mesh_name must be lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit."
  }
}

variable "kind" {
  description = "Topology kind: active-passive (one primary, standbys ready to be promoted), active-active (every data region takes writes) or hub-spoke (spokes feed a hub that broadcasts chosen topics back)."
  type        = string

  validation {
    condition     = contains(["active-passive", "active-active", "hub-spoke"], var.kind)
    error_message = "The kind must be active-passive, active-active or hub-spoke."
  }
}

variable "roles" {
  description = <<-EOT
    Roles of the data regions. active-passive: primary and standby. hub-spoke:
    hub, optional standby_hub, spokes and broadcast (hub topics copied to every
    spoke under the same name). active-active takes no roles.
  EOT
  type = object({
    primary     = optional(string)
    standby     = optional(list(string), [])
    hub         = optional(string)
    standby_hub = optional(string)
    spokes      = optional(list(string), [])
    broadcast = optional(object({
      include = list(string)
      exclude = optional(list(string), [])
    }))
  })
  default = {}
}

variable "regions" {
  description = <<-EOT
    Every region of the mesh. A data region has kafka (bring your own cluster:
    bootstrap is a list of host:port, e.g. MSK's bootstrap brokers); a witness
    region (witness = true) has no kafka and only votes on failovers. Each
    agent has a unique id and the host (IP address) it listens on and peers
    dial; its ports default to var.ports. kafka.sasl.password is a reference
    to the secret (env:VARIABLE or file:/path), never the password itself.
  EOT
  type = list(object({
    name    = string
    witness = optional(bool, false)
    kafka = optional(object({
      bootstrap = list(string)
      embedded  = optional(bool, false)
      tls = optional(object({
        ca_file     = optional(string)
        cert_file   = optional(string)
        key_file    = optional(string)
        server_name = optional(string)
      }))
      sasl = optional(object({
        mechanism = string
        username  = string
        password  = string
      }))
    }))
    agents = list(object({
      id           = string
      host         = string
      gossip_port  = optional(number)
      api_port     = optional(number)
      control_port = optional(number)
    }))
  }))

  validation {
    condition     = length(var.regions) >= 2
    error_message = "A mesh needs at least two regions."
  }
  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", r.name)) && r.name != "geomesh"])
    error_message = "Region names are topic prefixes: lowercase letters, digits and '-' (no '.'), at most 63 characters, and not \"geomesh\"."
  }
  validation {
    condition     = length(distinct([for r in var.regions : r.name])) == length(var.regions)
    error_message = "Region names must be unique."
  }
  validation {
    condition     = alltrue([for r in var.regions : r.witness == (r.kafka == null)])
    error_message = "A data region needs kafka and a witness region (witness = true) must not have it."
  }
  validation {
    condition     = alltrue([for r in var.regions : r.kafka == null ? true : length(r.kafka.bootstrap) > 0 && alltrue([for b in r.kafka.bootstrap : can(regex("^[^\\s:]+:[0-9]+$", b)) || can(regex("^\\[[0-9a-fA-F:.]+\\]:[0-9]+$", b))])])
    error_message = "Every kafka.bootstrap entry must be host:port, and a data region needs at least one."
  }
  validation {
    condition     = alltrue([for r in var.regions : r.kafka == null ? true : r.kafka.sasl == null ? true : contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], r.kafka.sasl.mechanism)])
    error_message = "The kafka.sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
  }
  validation {
    condition     = alltrue([for r in var.regions : r.kafka == null ? true : r.kafka.sasl == null ? true : can(regex("^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$", r.kafka.sasl.password))])
    error_message = "The kafka.sasl.password must be a reference to the secret, env:VARIABLE or file:/path, never the password itself."
  }
  validation {
    condition     = alltrue([for r in var.regions : length(r.agents) > 0])
    error_message = "Every region runs at least one agent."
  }
  validation {
    condition     = length(distinct(flatten([for r in var.regions : [for a in r.agents : a.id]]))) == length(flatten([for r in var.regions : r.agents]))
    error_message = "Agent ids must be unique in the mesh."
  }
  validation {
    condition = alltrue(flatten([for r in var.regions : [for a in r.agents : [
      for p in [a.gossip_port, a.api_port, a.control_port] : p == null ? true : (p >= 1 && p <= 65535 && floor(p) == p)
    ]]]))
    error_message = "Agent ports must be whole numbers from 1 to 65535."
  }
  validation {
    condition     = alltrue(flatten([for r in var.regions : [for a in r.agents : length(a.id) > 0 && length(a.host) > 0 && !strcontains(a.host, " ")]]))
    error_message = "Every agent needs an id and a host that peers in other regions can dial."
  }
}

variable "ports" {
  description = "Ports every agent listens on unless the agent sets its own: gossip (memberlist, TCP and UDP), api (HTTP API, /metrics and status page) and control (embedded NATS cluster routes, TCP)."
  type = object({
    gossip  = optional(number, 7946)
    api     = optional(number, 8080)
    control = optional(number, 6222)
  })
  default = {}

  validation {
    condition     = alltrue([for p in [var.ports.gossip, var.ports.api, var.ports.control] : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "Ports must be whole numbers from 1 to 65535."
  }
  validation {
    condition     = length(distinct([var.ports.gossip, var.ports.api, var.ports.control])) == 3
    error_message = "The gossip, api and control ports must differ."
  }
}

variable "topics" {
  description = "Topics to replicate, as full-match regular expressions. Null: geomesh's default, every topic."
  type = object({
    include = list(string)
    exclude = optional(list(string), [])
  })
  default = null
}

variable "groups" {
  description = "Consumer groups whose offsets are translated and synced, as full-match regular expressions. Null: geomesh's default, every group."
  type = object({
    include = list(string)
    exclude = optional(list(string), [])
  })
  default = null
}

variable "naming" {
  description = "Name of a topic copy in the target cluster: prefix (\"<source-region>.<topic>\") or identity. Null: prefix for active-active and hub-spoke, identity for active-passive."
  type        = string
  default     = null

  validation {
    condition     = var.naming == null ? true : contains(["prefix", "identity"], var.naming)
    error_message = "The naming must be prefix or identity."
  }
}

variable "replication" {
  description = "How records are copied: mode exactly-once or at-least-once, on_error pause or dead-letter (which needs dead_letter_topic), compression source, none, gzip, snappy, lz4 or zstd. Null attributes keep geomesh's defaults (exactly-once, pause, source: copies take the codec of their source batches)."
  type = object({
    mode              = optional(string)
    on_error          = optional(string)
    dead_letter_topic = optional(string)
    compression       = optional(string)
  })
  default = {}

  validation {
    condition     = var.replication.mode == null ? true : contains(["exactly-once", "at-least-once"], var.replication.mode)
    error_message = "The replication.mode must be exactly-once or at-least-once."
  }
  validation {
    condition     = var.replication.on_error == null ? true : contains(["pause", "dead-letter"], var.replication.on_error)
    error_message = "The replication.on_error must be pause or dead-letter."
  }
  validation {
    condition     = var.replication.compression == null ? true : contains(["source", "none", "gzip", "snappy", "lz4", "zstd"], var.replication.compression)
    error_message = "The replication.compression must be source, none, gzip, snappy, lz4 or zstd."
  }
  validation {
    condition     = var.replication.on_error == "dead-letter" ? var.replication.dead_letter_topic != null : true
    error_message = "The replication.on_error dead-letter needs replication.dead_letter_topic."
  }
}

variable "failover" {
  description = <<-EOT
    When and how a region's traffic moves: mode automatic or manual (geomesh's
    default), stranded quarantine, replay or drop, voters (region names; default
    every region), detection timings as Go durations ("1s", "500ms") and hooks
    run on every decision (each an exec command line or a webhook URL, with an
    optional timeout; deploy/hooks/dns-bootstrap.sh moves a DNS name).
    Automatic failover needs at least three voters: add a witness region to a
    two-region mesh.
  EOT
  type = object({
    mode     = optional(string)
    stranded = optional(string)
    voters   = optional(list(string))
    hooks = optional(list(object({
      exec    = optional(list(string))
      webhook = optional(string)
      timeout = optional(string)
    })), [])
    detection = optional(object({
      probe_interval       = optional(string)
      probe_timeout        = optional(string)
      suspicion_mult       = optional(number)
      kafka_probe_interval = optional(string)
      down_after           = optional(string)
    }), {})
  })
  default = {}

  validation {
    condition     = var.failover.mode == null ? true : contains(["automatic", "manual"], var.failover.mode)
    error_message = "The failover.mode must be automatic or manual."
  }
  validation {
    condition     = alltrue([for h in var.failover.hooks : (h.exec == null) != (h.webhook == null)])
    error_message = "Each failover hook needs exactly one of exec and webhook."
  }
  validation {
    condition     = var.failover.stranded == null ? true : contains(["quarantine", "replay", "drop"], var.failover.stranded)
    error_message = "The failover.stranded must be quarantine, replay or drop."
  }
  validation {
    condition = alltrue([for d in [
      var.failover.detection.probe_interval, var.failover.detection.probe_timeout,
      var.failover.detection.kafka_probe_interval, var.failover.detection.down_after,
    ] : d == null ? true : can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", d))])
    error_message = "Detection timings must be Go durations such as 500ms, 2s or 1m."
  }
  validation {
    condition     = var.failover.detection.suspicion_mult == null ? true : var.failover.detection.suspicion_mult >= 1 && floor(var.failover.detection.suspicion_mult) == var.failover.detection.suspicion_mult
    error_message = "The failover.detection.suspicion_mult must be a whole number of at least 1."
  }
}

variable "control_plane_urls" {
  description = "URLs (nats://host:port or tls://host:port) of an existing NATS cluster with JetStream that stores failover decisions. Empty: every agent runs an embedded NATS node on its control port."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for u in var.control_plane_urls : can(regex("^(nats|tls)://[^/\\s]+:[0-9]+$", u))])
    error_message = "Control plane URLs must be nats://host:port or tls://host:port."
  }
}

variable "flows" {
  description = "Narrower topic selections for single flows the topology plans, each naming its source and target region. An exclude left out is the mesh's topics exclude; an empty include copies nothing."
  type = list(object({
    source = string
    target = string
    topics = object({
      include = list(string)
      exclude = optional(list(string))
    })
  }))
  default = []
}

variable "allow_insecure" {
  description = "Insecure settings the topology accepts (geomesh refuses each otherwise and its agents warn of each at every start): sasl-plain-without-tls, insecure-skip-verify-with-password, control-plane-without-tls (an embedded control plane on these hosts without tls) and api-without-token (the agents' API on these hosts without tokens). See docs/security.md."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.allow_insecure : contains(["sasl-plain-without-tls", "insecure-skip-verify-with-password", "control-plane-without-tls", "api-without-token"], s)])
    error_message = "The allow_insecure entries must be sasl-plain-without-tls, insecure-skip-verify-with-password, control-plane-without-tls or api-without-token."
  }
}

variable "service" {
  description = "Where each agent host keeps the binary, the rendered topology and the environment file, and the log format; used in the agents output (service command line and environment)."
  type = object({
    binary           = optional(string, "/usr/local/bin/geomesh")
    topology_path    = optional(string, "/etc/geomesh/topology.yaml")
    environment_file = optional(string, "/etc/geomesh/geomesh.env")
    log_format       = optional(string, "json")
    log_level        = optional(string, "info")
  })
  default = {}

  validation {
    condition     = contains(["text", "json"], var.service.log_format)
    error_message = "The service.log_format must be text or json."
  }
  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.service.log_level)
    error_message = "The service.log_level must be debug, info, warn or error."
  }
  validation {
    condition     = startswith(var.service.binary, "/") && startswith(var.service.topology_path, "/") && startswith(var.service.environment_file, "/")
    error_message = "The service paths must be absolute."
  }
}
