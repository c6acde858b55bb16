# Broken on purpose: the agents' security group forgets gossip over UDP, so
# memberlist probes fail. TestSecurityGroupCheckCatchesBrokenRules expects it
# reported for every peer.

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

resource "aws_security_group" "agent" {
  name_prefix = "broken-"
}

resource "aws_vpc_security_group_ingress_rule" "mesh" {
  for_each = { for pair in setproduct(["gossip", "control", "api"], var.peer_cidrs) : "${pair[0]} ${pair[1]}" => { port = var.ports[pair[0]], cidr = pair[1] } }

  security_group_id = aws_security_group.agent.id
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}
