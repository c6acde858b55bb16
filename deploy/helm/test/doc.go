// Package helmtest checks the Helm chart in deploy/helm/geomesh offline,
// with the Helm library instead of a helm binary and without a cluster.
//
// It is a module of its own so that the geomesh module does not depend on
// Helm and Kubernetes. `make helm-check` runs it (part of `make test`):
//
//   - lint: helm's linter over the chart with every release's values;
//   - rendering: for each example topology of configs/examples, its
//     Kubernetes version in testdata/<example>/topology.yaml is rendered
//     once per region (release geomesh-<region> in namespace geomesh, with
//     testdata/<example>/common.yaml and <region>.yaml, as
//     `helm install -f common.yaml -f <region>.yaml --set-file
//     topology=topology.yaml` would);
//   - every rendered object is decoded strictly (unknown or duplicate
//     fields fail) into its Kubernetes or Prometheus Operator API type, and
//     a kind the test does not know fails it;
//   - the rendered topology passes `geomesh validate` (the binary is built
//     from the repository's root module), and the objects agree with it:
//     agent ids are the pod names, addresses the pods' DNS names, ports the
//     container, Service and NetworkPolicy ports, every file the topology
//     names is in a mounted Secret and every env: reference in the
//     container's environment; probes, security context, arguments;
//   - the PrometheusRule holds exactly the rule groups of
//     configs/prometheus/geomesh.rules.yml, and the chart's copy of that
//     file is byte for byte the same;
//   - planted faults (no region, a region the topology lacks, replicas that
//     do not match the region's agents, ...) fail rendering with a message
//     that says what to change.
//
// GEOMESH_HELM_CHART points the tests at another copy of the chart (to
// see them fail on a broken one); default ../geomesh.
package helmtest
