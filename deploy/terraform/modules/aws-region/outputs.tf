output "security_group_id" {
  description = "Security group of the region's agents; reference it to let them into other services."
  value       = aws_security_group.agent.id
}

output "instance_ids" {
  description = "EC2 instance of each agent, by agent id."
  value       = { for id, i in aws_instance.agent : id => i.id }
}

output "private_ips" {
  description = "Private IP of each agent, by agent id; equal to the hosts in the topology."
  value       = { for id, i in aws_instance.agent : id => i.private_ip }
}

output "role_arn" {
  description = "IAM role of the agents; grant it more (e.g. MSK IAM auth) with your own policies."
  value       = aws_iam_role.agent.arn
}

output "api_urls" {
  description = "Status/API endpoint of each agent over the mesh's private network, by agent id."
  value       = { for id, i in aws_instance.agent : id => "http://${i.private_ip}:${var.ports.api}" }
}

output "health_check_id" {
  description = "Route 53 calculated health check of the region (healthy while one agent's /readyz is), or null without route53."
  value       = var.route53 == null ? null : aws_route53_health_check.region[0].id
}

output "dns_name" {
  description = "Failover record of the region's API, or null without route53."
  value       = var.route53 == null ? null : aws_route53_record.api[0].fqdn
}
