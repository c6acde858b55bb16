package helmtest

import (
	"bytes"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

// TestLint runs helm's linter (Chart.yaml, values, templates) with every
// release's values. Lint renders as release "test-release", so the values
// name the release the topology expects with fullnameOverride.
func TestLint(t *testing.T) {
	for example, regions := range examples {
		for _, region := range regions {
			vals := releaseValues(t, example, region)
			vals["fullnameOverride"] = "geomesh-" + region
			res := lint.RunAll(chartDir(), vals, namespace)
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("%s/%s: %s", example, region, m)
				} else {
					t.Logf("%s/%s: %s", example, region, m)
				}
			}
		}
	}
}

// TestRulesCopy fails when the chart's copy of the alert rules drifts from
// configs/prometheus/geomesh.rules.yml (promtool tests that one).
func TestRulesCopy(t *testing.T) {
	want := readFile(t, filepath.Join("..", "..", "..", "configs", "prometheus", "geomesh.rules.yml"))
	got := readFile(t, filepath.Join(chartDir(), "files", "geomesh.rules.yml"))
	if !bytes.Equal(got, want) {
		t.Fatal("deploy/helm/geomesh/files/geomesh.rules.yml differs from configs/prometheus/geomesh.rules.yml; " +
			"copy it: cp configs/prometheus/geomesh.rules.yml deploy/helm/geomesh/files/")
	}
}

// TestFaults plants one mistake in a valid release's values each and wants
// rendering to fail with a message that says what to change.
func TestFaults(t *testing.T) {
	ch := loadChart(t)
	const example, region = "active-passive", "us-east"
	topoText := string(readFile(t, filepath.Join("testdata", example, "topology.yaml")))
	cases := []struct {
		name    string
		release string
		change  func(v map[string]any)
		want    string
	}{
		{"no region", "", func(v map[string]any) { delete(v, "region") },
			"region is required: the topology region this release runs"},
		{"no topology", "", func(v map[string]any) { delete(v, "topology") },
			"topology is required: the whole topology file as a string"},
		{"region not in the topology", "", func(v map[string]any) { v["region"] = "mars" },
			`region "mars" is not in the topology; its regions are: us-east, eu-west, witness`},
		{"more replicas than agents", "", func(v map[string]any) { v["replicas"] = 3 },
			"replicas is 3 but region us-east has 2 agents in the topology (geomesh-us-east-0, geomesh-us-east-1): set replicas to 2"},
		{"fewer replicas than agents", "", func(v map[string]any) { v["replicas"] = 1 },
			"replicas is 1 but region us-east has 2 agents in the topology"},
		{"no replicas", "", func(v map[string]any) { v["replicas"] = 0 },
			"replicas is 0; a region runs at least one agent"},
		{"release whose pods are not the agents", "mesh-us-east", func(map[string]any) {},
			"region us-east's agent ids in the topology (geomesh-us-east-0, geomesh-us-east-1) must be the pod names of release mesh-us-east: mesh-us-east-0, mesh-us-east-1"},
		{"address that is not the pod's DNS name", "", func(v map[string]any) {
			v["topology"] = strings.Replace(topoText, "gossip: geomesh-us-east-1.geomesh-us-east.geomesh.svc.cluster.local:7946",
				"gossip: 10.1.0.11:7946", 1)
		}, "topology: agent geomesh-us-east-1's gossip address 10.1.0.11:7946 must name its pod, geomesh-us-east-1.geomesh-us-east.geomesh.svc.cluster.local:7946"},
		{"agents of one region on different ports", "", func(v map[string]any) {
			v["topology"] = strings.Replace(topoText, "geomesh-us-east-1.geomesh-us-east.geomesh.svc.cluster.local:7946",
				"geomesh-us-east-1.geomesh-us-east.geomesh.svc.cluster.local:7947", 1)
		}, "topology: region us-east's agents use different gossip ports (7946 and 7947)"},
		{"topology that is not YAML", "", func(v map[string]any) { v["topology"] = "mesh: [shop\n" },
			"topology is not YAML"},
		{"topology that is not a mesh", "", func(v map[string]any) { v["topology"] = "apiVersion: v1\nkind: ConfigMap\n" },
			"topology has no mesh name (mesh:)"},
		{"no image", "", func(v map[string]any) { v["image"] = map[string]any{"repository": ""} },
			"image.repository is required"},
		{"no network policy peers", "", func(v map[string]any) {
			v["networkPolicy"] = map[string]any{"peers": []any{}}
		}, "networkPolicy.peers is empty: the agents of the mesh's other regions could not reach region us-east's gossip, control and API ports"},
		{"metrics behind a read token without one", "", func(v map[string]any) {
			v["serviceMonitor"] = map[string]any{"enabled": true, "bearerTokenSecret": map[string]any{}}
		}, "the topology's api.read_token protects /metrics: set serviceMonitor.bearerTokenSecret"},
		{"unknown anti-affinity", "", func(v map[string]any) {
			v["podAntiAffinity"] = map[string]any{"type": "sometimes"}
		}, `podAntiAffinity.type is "sometimes"; it is preferred, required or empty`},
		{"release name too long", strings.Repeat("g", 53), func(map[string]any) {},
			"has 53 characters; at most 52"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := releaseValues(t, example, region)
			tc.change(vals)
			name := tc.release
			if name == "" {
				name = "geomesh-" + region
			}
			_, err := render(ch, name, vals)
			if err == nil {
				t.Fatalf("rendered; want the error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestOptions renders the switches the examples leave at their defaults.
func TestOptions(t *testing.T) {
	ch := loadChart(t)
	const example, region = "active-passive", "us-east"
	base := releaseValues(t, example, region)
	with := func(change map[string]any) map[string]any {
		v := maps.Clone(base)
		maps.Copy(v, change)
		return v
	}

	t.Run("minimal values", func(t *testing.T) {
		v := map[string]any{
			"region": region, "replicas": 2, "topology": base["topology"],
			"image":         map[string]any{"repository": "registry.example.com/geomesh", "tag": "v9.9.9"},
			"networkPolicy": map[string]any{"enabled": false},
		}
		out, err := render(ch, "geomesh-"+region, v)
		if err != nil {
			t.Fatal(err)
		}
		rel := newRelease(t, decode(t, out))
		want := map[string]int{"StatefulSet": 1, "Service": 2, "ConfigMap": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1}
		if !maps.Equal(rel.kindCounts, want) {
			t.Errorf("objects %v, want %v (no monitoring, no policies)", rel.kindCounts, want)
		}
		if img := rel.sts.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/geomesh:v9.9.9" {
			t.Errorf("image %q", img)
		}
	})

	t.Run("no persistence", func(t *testing.T) {
		out, err := render(ch, "geomesh-"+region, with(map[string]any{"persistence": map[string]any{"enabled": false}}))
		if err != nil {
			t.Fatal(err)
		}
		rel := newRelease(t, decode(t, out))
		if n := len(rel.sts.Spec.VolumeClaimTemplates); n != 0 {
			t.Errorf("%d volumeClaimTemplates, want none", n)
		}
		found := false
		for _, vol := range rel.sts.Spec.Template.Spec.Volumes {
			found = found || (vol.Name == "state" && vol.EmptyDir != nil)
		}
		if !found {
			t.Error("no emptyDir state volume")
		}
	})

	t.Run("required anti-affinity and a digest", func(t *testing.T) {
		out, err := render(ch, "geomesh-"+region, with(map[string]any{
			"podAntiAffinity": map[string]any{"type": "required"},
			"image":           map[string]any{"repository": "registry.example.com/geomesh", "digest": "sha256:" + strings.Repeat("ab", 32)},
		}))
		if err != nil {
			t.Fatal(err)
		}
		rel := newRelease(t, decode(t, out))
		pod := rel.sts.Spec.Template.Spec
		aa := pod.Affinity.PodAntiAffinity
		if len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 0 ||
			aa.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("anti-affinity %+v, want one required term on kubernetes.io/hostname", aa)
		}
		if img := pod.Containers[0].Image; img != "registry.example.com/geomesh@sha256:"+strings.Repeat("ab", 32) {
			t.Errorf("image %q", img)
		}
	})

	t.Run("external control plane", func(t *testing.T) {
		topoText := base["topology"].(string)
		i := strings.Index(topoText, "control_plane:")
		ext := topoText[:i] + "control_plane:\n  urls: [tls://nats.example.com:4222]\n  tls: {ca_file: /etc/geomesh/secrets/control-tls/ca.crt}\n"
		for _, id := range []string{"us-east-0", "us-east-1", "eu-west-0", "witness-0"} {
			r := id[:strings.LastIndex(id, "-")]
			ext = strings.Replace(ext, ", control: geomesh-"+id+".geomesh-"+r+".geomesh.svc.cluster.local:6222", "", 1)
		}
		validateTopology(t, ext)
		out, err := render(ch, "geomesh-"+region, with(map[string]any{"topology": ext}))
		if err != nil {
			t.Fatal(err)
		}
		rel := newRelease(t, decode(t, out))
		for _, p := range rel.sts.Spec.Template.Spec.Containers[0].Ports {
			if p.Name == "control" {
				t.Errorf("container port control %d with an external control plane", p.ContainerPort)
			}
		}
		for _, r := range rel.policies[("geomesh-" + region + "-mesh")].Spec.Ingress {
			for _, p := range r.Ports {
				if p.Port.IntValue() == 6222 && deref(p.Protocol) == corev1.ProtocolTCP {
					t.Error("the NetworkPolicy opens the control port with an external control plane")
				}
			}
		}
	})
}
