# geomesh build, test and lint entry points. `make test` is what CI runs.
GO ?= go
PKGS_UNIT := $(shell $(GO) list ./... | grep -v '/test/')
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test test-unit test-integration kafka lint fmt clean alerts-test chaos e2e

all: build

build:
	$(GO) build -o bin/geomesh ./cmd/geomesh

# Fetch the Apache Kafka jars from Maven Central once; later runs reuse them.
kafka:
	bash test/kafka/fetch.sh

# Unit tests, then the integration tests against real Apache Kafka (KRaft),
# verbose so the log names the Kafka version the harness started.
test: kafka tofu-check alerts-test helm-check test-unit clients-test test-integration

# The Java and Python client libraries: their unit tests, which run the
# follow decision's shared table (client/testdata/decide.json) too.
.PHONY: clients-test
clients-test:
	bash clients/java/test.sh
	bash clients/python/test.sh

# Offline checks of deploy/terraform: tofu fmt, validate and test of the
# mesh-config module, and the Go tests over every module and example. The
# first run builds OpenTofu from the Go module proxy (about 6 minutes).
.PHONY: tofu-check
tofu-check:
	bash deploy/terraform/tools/check.sh

# Offline checks of the Helm chart in deploy/helm/geomesh, with the Helm
# library (no helm binary, no cluster): lint, rendering of one release per
# region of every example topology, strict decoding of every object into
# its Kubernetes API type and geomesh validate of the rendered topology.
# deploy/helm/test is a module of its own, so the root module does not
# depend on Helm or Kubernetes; go test downloads its modules.
.PHONY: helm-check
helm-check:
	cd deploy/helm/test && $(GO) test -count=1 ./...

test-unit:
	$(GO) test -count=1 -timeout 15m $(PKGS_UNIT)

# test/chaos holds its mesh to time bounds (detection, promotion, resume)
# and runs alone after the other packages: sharing two cores with another
# package's Kafka clusters would measure the machine, not the mesh.
test-integration:
	$(GO) test -count=1 -timeout 45m -v $$($(GO) list ./test/... | grep -v '/test/chaos$$')
	$(GO) test -count=1 -timeout 30m -v ./test/chaos

# Seeded fault schedules in network namespaces, each judged by the
# history checker: first RUNS data-plane schedules (default 10) of LENGTH
# faults (default 20s, about 30 s a run with its checks, so RUNS=100 takes
# about 75 minutes with the partition schedules: agent SIGKILL/SIGSTOP,
# partitions, slow WAN, broker restarts) against an exactly-once flow between two regions
# (TestChaos), each judged on both regions' logs read to their end offsets
# once the agent has caught up, with a floor of acknowledged and read
# records; then RUNS partition schedules (cut-off primary, one-way
# cut, cut-off witness, a frozen agent) on a mesh with a witness and its
# control plane, where the mesh fails over and the checker looks for two
# primaries at one epoch (TestNetnsAcceptance/partitions). SEED replays both (default: the clock;
# the log prints it). make test runs 3 short data-plane schedules and 2
# partition schedules as part of test-integration.
RUNS ?= 10
LENGTH ?= 20s
chaos: kafka
	GEOMESH_CHAOS_RUNS=$(RUNS) GEOMESH_CHAOS_LENGTH=$(LENGTH) $(if $(SEED),GEOMESH_CHAOS_SEED=$(SEED)) \
		$(GO) test -count=1 -timeout $$(( $(RUNS) * 3 + 10 ))m -v -run 'TestChaos$$' ./test/chaos
	GEOMESH_E2E_SCHEDULES=$(RUNS) $(if $(SEED),GEOMESH_E2E_SEED=$(SEED)) \
		$(GO) test -count=1 -timeout $$(( $(RUNS) + 10 ))m -v -run 'TestNetnsAcceptance$$/partitions$$' ./test/chaos

# Issue 6's acceptance in network namespaces (TestNetnsAcceptance): a soak
# of SOAK (default 30m: 100ms each way, 2% loss, a 3s freeze of one agent
# every 30s, no failover allowed), then KILLS region kills (default 20;
# detection and RTO p50/p99, stranded totals), SCHEDULES partition
# schedules (default 20, seeded SEED, default the clock) and a planned
# switch and failback under load; then one region kill of each other
# topology kind (TestNetnsActiveActiveKill, TestNetnsHubKill). make test
# runs one kill with its failback and two schedules, and the other
# kinds' kills.
KILLS ?= 20
SCHEDULES ?= 20
SOAK ?= 30m
e2e: kafka
	GEOMESH_E2E_KILLS=$(KILLS) GEOMESH_E2E_SCHEDULES=$(SCHEDULES) GEOMESH_E2E_SWITCH=1 GEOMESH_E2E_SOAK=$(SOAK) \
		$(if $(SEED),GEOMESH_E2E_SEED=$(SEED)) \
		$(GO) test -count=1 -timeout 6h -v -run 'TestNetnsAcceptance$$|TestNetnsActiveActiveKill$$|TestNetnsHubKill$$' ./test/chaos

# Prometheus alert and recording rules: syntax, then the unit tests in
# geomesh.rules.test.yml (promtool: Debian package prometheus).
alerts-test:
	cd configs/prometheus && promtool check rules geomesh.rules.yml && promtool test rules geomesh.rules.test.yml

# internal/testhygiene reads the tests and scripts: no t.Fatal from a
# goroutine other than the test's, no fixed loopback port in a test, no
# pipe into head or grep -q under pipefail (it runs in test-unit too).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	cd deploy/helm/test && $(GO) vet ./...
	@test -x $(STATICCHECK) || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...
	$(GO) test -count=1 ./internal/testhygiene

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# A release into dist/ (packaging/release): static binaries for linux and
# darwin, amd64 and arm64, stamped with version, commit and date; the SBOM;
# the systemd unit; the OCI image layout of the linux binaries; SHA256SUMS.
# VERSION defaults to `git describe --tags --always --dirty`.
.PHONY: dist image
dist:
	$(GO) run ./packaging/release -out dist -image $(if $(VERSION),-version $(VERSION))

# The OCI image layout alone (dist/geomesh-image), without a Docker daemon.
image:
	$(GO) run ./packaging/release -out dist -platforms linux/amd64,linux/arm64 -image $(if $(VERSION),-version $(VERSION))

# Benchmarks against MirrorMaker 2 and a raw franz-go copy loop on two real
# Kafka clusters; regenerates docs/benchmarks.{md,json} and the charts.
# About an hour; `make bench QUICK=1` is a few-minute smoke run.
.PHONY: bench
bench: kafka
	$(GO) run ./test/bench/cmd/geomesh-bench -out docs $(if $(QUICK),-quick) $(BENCHFLAGS)

# MirrorMaker 2 and geomesh side by side on two real clusters: a consumer
# group moves to the target with each, and the records skipped and read
# twice are counted (docs/offsets.md). A few minutes with a MirrorMaker 2
# JVM, so not part of `make test`.
.PHONY: offsets-compare
offsets-compare: kafka
	$(GO) test -tags mm2compare -count=1 -timeout 15m -v -run 'TestOffsetsVsMirrorMaker2' ./test/e2e
