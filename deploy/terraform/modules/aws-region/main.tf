data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  name = "${var.mesh_name}-${var.region_name}"
  tags = merge(var.tags, { "geomesh:mesh" = var.mesh_name, "geomesh:region" = var.region_name })
  ami  = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ami[0].value

  # The ports the agents listen on, one rule each per peer CIDR. These are
  # the only ingress rules on the agents' security group, apart from the
  # Route 53 health checkers' access to the API port.
  mesh_ports = { for k, v in {
    gossip-tcp  = { protocol = "tcp", port = var.ports.gossip, what = "memberlist gossip" }
    gossip-udp  = { protocol = "udp", port = var.ports.gossip, what = "memberlist gossip" }
    control-tcp = var.ports.control == null ? null : { protocol = "tcp", port = var.ports.control, what = "embedded NATS control plane routes" }
    api-tcp     = { protocol = "tcp", port = var.ports.api, what = "HTTP API and /metrics" }
  } : k => v if v != null }
  mesh_ingress = { for pair in setproduct(keys(local.mesh_ports), var.peer_cidrs) :
    "${pair[0]} ${pair[1]}" => merge(local.mesh_ports[pair[0]], { cidr = pair[1] })
  }

  agents        = { for a in var.agents : a.id => a }
  ssm_arns      = [for p in values(var.ssm_secrets) : "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${p}"]
  binary_bucket = startswith(var.binary_url, "s3://") ? split("/", trimprefix(var.binary_url, "s3://"))[0] : null
  binary_key    = startswith(var.binary_url, "s3://") ? join("/", slice(split("/", trimprefix(var.binary_url, "s3://")), 1, length(split("/", trimprefix(var.binary_url, "s3://"))))) : null
}

# --- network ---------------------------------------------------------------

resource "aws_security_group" "agent" {
  name_prefix = "${local.name}-agent-"
  description = "geomesh agents of ${var.mesh_name}/${var.region_name}: gossip, control plane and API from the mesh only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${local.name}-agent" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "mesh" {
  for_each = local.mesh_ingress

  security_group_id = aws_security_group.agent.id
  description       = "geomesh ${each.value.what} from the mesh"
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
  tags              = local.tags
}

data "aws_ip_ranges" "health_checkers" {
  count    = var.route53 == null ? 0 : 1
  services = ["route53_healthchecks"]
}

resource "aws_vpc_security_group_ingress_rule" "health_check" {
  for_each = var.route53 == null ? toset([]) : toset(data.aws_ip_ranges.health_checkers[0].cidr_blocks)

  security_group_id = aws_security_group.agent.id
  description       = "Route 53 health checks of /readyz"
  ip_protocol       = "tcp"
  from_port         = var.ports.api
  to_port           = var.ports.api
  cidr_ipv4         = each.value
  tags              = local.tags
}

# Agents reach their Kafka cluster, the other regions' clusters, the
# parameter store and the binary's bucket; egress is not restricted.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.agent.id
  description       = "geomesh agents reach Kafka, peers and AWS APIs"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

# Bring-your-own Kafka: let the agents into the cluster's security group.
resource "aws_vpc_security_group_ingress_rule" "kafka" {
  for_each = var.kafka_security_group_id == null ? toset([]) : toset([for p in var.kafka_ports : tostring(p)])

  security_group_id            = var.kafka_security_group_id
  description                  = "geomesh agents of ${var.mesh_name}/${var.region_name} to Kafka"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.agent.id
  tags                         = local.tags
}

# --- identity: parameter store secrets, Session Manager instead of SSH -------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "agent" {
  name_prefix        = substr("${local.name}-agent-", 0, 38)
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.agent.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "agent" {
  dynamic "statement" {
    for_each = length(var.ssm_secrets) > 0 ? [1] : []
    content {
      sid       = "ReadSecrets"
      actions   = ["ssm:GetParameter", "ssm:GetParameters"]
      resources = local.ssm_arns
    }
  }
  dynamic "statement" {
    for_each = var.kms_key_arn != null && length(var.ssm_secrets) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }
  dynamic "statement" {
    for_each = local.binary_bucket != null ? [1] : []
    content {
      sid       = "FetchBinary"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.binary_bucket}/${local.binary_key}"]
    }
  }
  dynamic "statement" {
    for_each = var.kafka_dns != null ? [1] : []
    content {
      sid       = "MoveKafkaName"
      actions   = ["route53:ChangeResourceRecordSets"]
      resources = ["arn:${data.aws_partition.current.partition}:route53:::hostedzone/${var.kafka_dns.zone_id}"]
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
        values   = [lower(trimsuffix(var.kafka_dns.record_name, "."))]
      }
    }
  }
  # A policy document needs a statement; this one grants nothing new.
  statement {
    sid       = "DescribeSelf"
    actions   = ["ec2:DescribeTags"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "agent" {
  name   = "geomesh-agent"
  role   = aws_iam_role.agent.id
  policy = data.aws_iam_policy_document.agent.json
}

resource "aws_iam_instance_profile" "agent" {
  name_prefix = substr("${local.name}-agent-", 0, 38)
  role        = aws_iam_role.agent.name
  tags        = local.tags
}

# --- agents ------------------------------------------------------------------

# One instance per agent rather than an auto-scaling group: the topology
# names the address every agent binds to and peers dial, so each agent keeps
# a fixed private IP. A replaced instance gets the same address back.
resource "aws_instance" "agent" {
  for_each = local.agents

  ami                         = local.ami
  instance_type               = var.instance_type
  subnet_id                   = each.value.subnet_id
  private_ip                  = each.value.private_ip
  vpc_security_group_ids      = [aws_security_group.agent.id]
  iam_instance_profile        = aws_iam_instance_profile.agent.name
  associate_public_ip_address = var.associate_public_ip
  user_data_replace_on_change = false

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    aws_region       = data.aws_region.current.name
    binary_url       = var.binary_url
    binary_sha256    = var.binary_sha256
    topology_yaml    = var.topology_yaml
    environment_file = var.environment_files[each.key]
    ssm_secrets      = var.ssm_secrets
    unit             = file("${path.module}/files/geomesh-agent.service")
    dns_hook         = var.kafka_dns == null ? "" : file("${path.module}/../../../hooks/dns-bootstrap.sh")
  })

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    encrypted   = true
    volume_size = var.root_volume_gb
    volume_type = "gp3"
  }

  tags        = merge(local.tags, { Name = "${local.name}-${each.key}", "geomesh:agent" = each.key })
  volume_tags = local.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.environment_files), each.key)
      error_message = "The environment_files input has no entry for this agent; pass mesh-config's environment_files output."
    }
    precondition {
      condition     = alltrue([for n in var.secret_environment : contains(keys(var.ssm_secrets), n)])
      error_message = "Every variable of secret_environment needs a parameter in ssm_secrets, or the agent cannot read its Kafka password."
    }
    precondition {
      condition     = !var.witness || (var.route53 == null && var.kafka_security_group_id == null)
      error_message = "A witness region has no Kafka and serves no clients: leave route53 and kafka_security_group_id null."
    }
    precondition {
      condition     = var.route53 == null || var.associate_public_ip
      error_message = "Route 53 health checks reach the agents over public IPs: set associate_public_ip = true."
    }
    ignore_changes = [ami]
  }
}

# --- optional failover DNS record ---------------------------------------------

resource "aws_route53_health_check" "agent" {
  for_each = var.route53 == null ? {} : local.agents

  ip_address        = aws_instance.agent[each.key].public_ip
  port              = var.ports.api
  type              = "HTTP"
  resource_path     = "/readyz"
  request_interval  = 10
  failure_threshold = 3
  tags              = merge(local.tags, { Name = "${local.name}-${each.key}-readyz" })
}

resource "aws_route53_health_check" "region" {
  count = var.route53 == null ? 0 : 1

  type                   = "CALCULATED"
  child_health_threshold = 1
  child_healthchecks     = [for h in aws_route53_health_check.agent : h.id]
  tags                   = merge(local.tags, { Name = "${local.name}-readyz" })
}

resource "aws_route53_record" "api" {
  count = var.route53 == null ? 0 : 1

  zone_id         = var.route53.zone_id
  name            = var.route53.record_name
  type            = "A"
  ttl             = var.route53.ttl
  records         = [for a in aws_instance.agent : a.public_ip]
  set_identifier  = var.region_name
  health_check_id = aws_route53_health_check.region[0].id

  failover_routing_policy {
    type = var.route53.failover
  }
}
