terraform {
  # optional() attribute defaults and output preconditions; no provider, so
  # `tofu init`, `tofu validate` and `tofu test` run offline.
  required_version = ">= 1.8.0"
}
