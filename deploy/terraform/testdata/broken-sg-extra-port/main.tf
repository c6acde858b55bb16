# Broken on purpose: every mesh port is open to the mesh, but SSH is open too
# and the API is open to the world. TestSecurityGroupCheckCatchesBrokenRules
# expects both reported.

variable "ports" {
  description = "Agent ports."
  type = object({
    gossip  = number
    api     = number
    control = optional(number)
  })
}

variable "peer_cidrs" {
  description = "Agent subnets of the mesh."
  type        = list(string)
}

locals {
  listeners = {
    gossip-tcp  = { protocol = "tcp", port = var.ports.gossip }
    gossip-udp  = { protocol = "udp", port = var.ports.gossip }
    control-tcp = { protocol = "tcp", port = var.ports.control }
    api-tcp     = { protocol = "tcp", port = var.ports.api }
  }
}

resource "aws_security_group" "agent" {
  name_prefix = "broken-"
}

resource "aws_vpc_security_group_ingress_rule" "mesh" {
  for_each = { for pair in setproduct(keys(local.listeners), var.peer_cidrs) : "${pair[0]} ${pair[1]}" => merge(local.listeners[pair[0]], { cidr = pair[1] }) }

  security_group_id = aws_security_group.agent.id
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = toset(var.peer_cidrs)

  security_group_id = aws_security_group.agent.id
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api_world" {
  security_group_id = aws_security_group.agent.id
  ip_protocol       = "tcp"
  from_port         = var.ports.api
  to_port           = var.ports.api
  cidr_ipv4         = "0.0.0.0/0"
}
