# Broken on purpose: one problem per declaration, each expected by
# TestChecksCatchBrokenModules.

variable "no_type" {
  description = "A variable without a type."
}

variable "no_description" {
  type = string
}

variable "unused" {
  description = "Declared, never referenced."
  type        = string
}

locals {
  both = "${var.no_type}-${var.no_description}-${var.undeclared}-${local.missing}"
}

output "no_description" {
  value = local.both
}
