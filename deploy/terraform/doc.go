// Package terraform checks the Terraform/OpenTofu code in deploy/terraform
// offline, without any provider or cloud credentials; it has tests only:
//
//   - tofu_test.go runs OpenTofu (built from the Go module proxy by
//     tools/build-tofu.sh): fmt, validate and the tofu tests of mesh-config,
//     and renders every example's topology, which geomesh's own parser must
//     accept;
//   - hcl_test.go parses every module and example and checks that variables
//     are declared, typed, described and used, outputs are described, and
//     module calls pass only declared inputs and every required one;
//   - sg_test.go evaluates the aws-region module's security-group rules with
//     the inputs each example passes and checks that they open exactly the
//     ports the rendered topology's agents listen on, to exactly the mesh;
//   - systemd_test.go checks the service unit.
//
// testdata/ holds broken modules, one per reason, that the checks must catch.
package terraform
