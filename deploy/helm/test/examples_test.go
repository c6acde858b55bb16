package helmtest

import (
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// TestExamples renders every region's release of every example topology
// and holds the objects to the topology and to what an operator expects.
func TestExamples(t *testing.T) {
	ch := loadChart(t)
	for example, regions := range examples {
		topoText := string(readFile(t, filepath.Join("testdata", example, "topology.yaml")))
		tp := parseTopo(t, topoText)
		t.Run(example, func(t *testing.T) {
			validateTopology(t, topoText)
			if got := regionNames(tp); !slices.Equal(got, regions) {
				t.Fatalf("testdata topology has regions %v, the test expects %v", got, regions)
			}
			for _, region := range regions {
				t.Run(region, func(t *testing.T) {
					rel, vals := renderRelease(t, ch, example, region)
					checkRelease(t, tp, topoText, region, rel, vals)
				})
			}
		})
	}
}

func regionNames(tp *topo) []string {
	var names []string
	for _, r := range tp.Regions {
		names = append(names, r.Name)
	}
	return names
}

func checkRelease(t *testing.T, tp *topo, topoText, region string, rel *release, vals map[string]any) {
	name := "geomesh-" + region
	for _, o := range rel.all {
		checkMeta(t, o)
	}
	wantKinds := map[string]int{
		"StatefulSet": 1, "Service": 2, "ConfigMap": 1, "ServiceAccount": 1,
		"PodDisruptionBudget": 1, "NetworkPolicy": 2, "ServiceMonitor": 1, "PrometheusRule": 1,
	}
	if !reflect.DeepEqual(rel.kindCounts, wantKinds) {
		t.Errorf("objects by kind %v, want %v", rel.kindCounts, wantKinds)
	}
	if rel.sts == nil || rel.configMap == nil {
		t.Fatal("no StatefulSet or ConfigMap")
	}

	// The topology in the ConfigMap is the file, unchanged, and valid.
	cmText := rel.configMap.Data["topology.yaml"]
	if cmText != topoText {
		t.Errorf("ConfigMap %s holds a topology that differs from the file given", rel.configMap.Name)
	}
	validateTopology(t, cmText)

	sts := rel.sts
	pod := sts.Spec.Template.Spec
	if sts.Name != name {
		t.Errorf("StatefulSet %q, want %q", sts.Name, name)
	}

	// The region's agent ids are the pods' names; their addresses the pods'
	// DNS names through the headless Service.
	reg := tp.region(region)
	if reg == nil {
		t.Fatalf("region %s is not in the testdata topology", region)
	}
	if sts.Spec.Replicas == nil {
		t.Fatal("StatefulSet without replicas")
	}
	var pods, ids []string
	for i := range int(*sts.Spec.Replicas) {
		pods = append(pods, fmt.Sprintf("%s-%d", sts.Name, i))
	}
	ports := map[string]int32{}
	for _, a := range reg.Agents {
		ids = append(ids, a.ID)
		for what, addr := range map[string]string{"gossip": a.Gossip, "api": a.API, "control": a.Control} {
			host, port := hostPort(t, addr)
			if want := fmt.Sprintf("%s.%s.%s.svc.cluster.local", a.ID, sts.Spec.ServiceName, namespace); host != want {
				t.Errorf("agent %s: %s host %s is not its pod's DNS name %s", a.ID, what, host, want)
			}
			if p, ok := ports[what]; ok && p != port {
				t.Errorf("agents of %s use %s ports %d and %d", region, what, p, port)
			}
			ports[what] = port
		}
	}
	sort.Strings(ids)
	sort.Strings(pods)
	if !slices.Equal(ids, pods) {
		t.Errorf("agent ids of %s in the topology %v, pod names %v", region, ids, pods)
	}

	// The headless Service gives the pods those names, before they are ready.
	headless := rel.services[sts.Spec.ServiceName]
	if headless == nil {
		t.Fatalf("no Service %q (the StatefulSet's serviceName)", sts.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q publishNotReadyAddresses %v, want None and true",
			headless.Name, headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
	}
	podLabels := labels.Set(sts.Spec.Template.Labels)
	if !labels.SelectorFromSet(sts.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("StatefulSet selector %v does not match its pods %v", sts.Spec.Selector.MatchLabels, podLabels)
	}
	api := rel.services[name+"-api"]
	if api == nil {
		t.Fatalf("no API Service %s-api", name)
	}
	for _, svc := range []*corev1.Service{headless, api} {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selector %v does not match the pods %v", svc.Name, svc.Spec.Selector, podLabels)
		}
	}

	// Ports: the topology's, on the container, both Services and the
	// NetworkPolicies.
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	wantContainer := map[string]string{
		"gossip":     fmt.Sprintf("%d/TCP", ports["gossip"]),
		"gossip-udp": fmt.Sprintf("%d/UDP", ports["gossip"]),
		"api":        fmt.Sprintf("%d/TCP", ports["api"]),
		"control":    fmt.Sprintf("%d/TCP", ports["control"]),
	}
	gotContainer := map[string]string{}
	for _, p := range c.Ports {
		gotContainer[p.Name] = fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
	}
	if !reflect.DeepEqual(gotContainer, wantContainer) {
		t.Errorf("container ports %v, want %v (the topology's)", gotContainer, wantContainer)
	}
	gotHeadless := map[string]string{}
	for _, p := range headless.Spec.Ports {
		gotHeadless[p.TargetPort.String()] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	}
	if !reflect.DeepEqual(gotHeadless, wantContainer) {
		t.Errorf("headless Service ports %v, want %v", gotHeadless, wantContainer)
	}
	if len(api.Spec.Ports) != 1 || api.Spec.Ports[0].Port != ports["api"] || api.Spec.Ports[0].TargetPort.String() != "api" {
		t.Errorf("API Service ports %+v, want %d to api", api.Spec.Ports, ports["api"])
	}
	checkPolicies(t, rel, name, podLabels, ports)

	// Probes on the API port, HTTPS when the topology serves the API with
	// TLS; /healthz and /readyz need no token.
	scheme := corev1.URISchemeHTTP
	if tp.API.TLS != nil {
		scheme = corev1.URISchemeHTTPS
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.what)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "api" || g.Scheme != scheme {
			t.Errorf("%s probe %s %s %s, want %s on port api (%d) over %s", p.what, g.Scheme, g.Path, g.Port.String(), p.path, ports["api"], scheme)
		}
	}

	// Non-root 65532 with a read-only root filesystem.
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Error("no pod or container securityContext")
	case !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != 65532 || deref(psc.RunAsGroup) != 65532 || deref(psc.FSGroup) != 65532:
		t.Errorf("pod securityContext %+v, want non-root 65532:65532, fsGroup 65532", psc)
	case !deref(sc.ReadOnlyRootFilesystem) || deref(sc.AllowPrivilegeEscalation) || deref(sc.RunAsUser) != 65532 || !deref(sc.RunAsNonRoot):
		t.Errorf("container securityContext %+v, want read-only root, non-root 65532, no privilege escalation", sc)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("container capabilities %+v, want all dropped", sc.Capabilities)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token; the agent never calls the Kubernetes API")
	}

	// The command line and the files it reads.
	wantArgs := []string{"agent", "--topology", "/etc/geomesh/topology.yaml", "--region", region,
		"--id", "$(POD_NAME)", "--state-dir", "/var/lib/geomesh/" + tp.Mesh, "--log-format", "json", "--log-level", "info"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	if c.Image != "registry.example.com/geomesh:v0.1.0" {
		t.Errorf("image %q, want the chart's appVersion as tag", c.Image)
	}
	envs := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		envs[e.Name] = e
	}
	if e := envs["POD_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME is %+v, want the downward API's metadata.name", e)
	}
	checkMounts(t, tp, region, rel, pod, c, envs)

	// Disruptions and spreading.
	if rel.pdb == nil || rel.pdb.Spec.MaxUnavailable == nil || rel.pdb.Spec.MaxUnavailable.IntValue() != 1 ||
		!labels.SelectorFromSet(rel.pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("PodDisruptionBudget %+v, want maxUnavailable 1 over the pods", rel.pdb)
	}
	aff := pod.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("affinity %+v, want one preferred pod anti-affinity term", aff)
	} else if term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm; term.TopologyKey != "kubernetes.io/hostname" ||
		!labels.SelectorFromSet(term.LabelSelector.MatchLabels).Matches(podLabels) {
		t.Errorf("anti-affinity term %+v, want the pods on kubernetes.io/hostname", term)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "state" {
		t.Errorf("volumeClaimTemplates %+v, want one named state", sts.Spec.VolumeClaimTemplates)
	}
	if sts.Spec.Template.Annotations["checksum/topology"] == "" {
		t.Error("no checksum/topology annotation: a new topology would not roll the agents")
	}

	checkMonitoring(t, rel, headless, api, tp)
}

// checkPolicies: one policy opens gossip (TCP and UDP), control and API to
// the agents and their peers, the other the API to monitoring and clients.
func checkPolicies(t *testing.T, rel *release, name string, podLabels labels.Set, ports map[string]int32) {
	t.Helper()
	want := map[string][]string{
		name + "-mesh": {fmt.Sprintf("%d/TCP", ports["gossip"]), fmt.Sprintf("%d/UDP", ports["gossip"]),
			fmt.Sprintf("%d/TCP", ports["control"]), fmt.Sprintf("%d/TCP", ports["api"])},
		name + "-api": {fmt.Sprintf("%d/TCP", ports["api"])},
	}
	for pname, wantPorts := range want {
		np := rel.policies[pname]
		if np == nil {
			t.Errorf("no NetworkPolicy %s", pname)
			continue
		}
		if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(podLabels) {
			t.Errorf("NetworkPolicy %s does not select the agents", pname)
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
			t.Errorf("NetworkPolicy %s: %v with %d rules, want one Ingress rule", pname, np.Spec.PolicyTypes, len(np.Spec.Ingress))
			continue
		}
		rule := np.Spec.Ingress[0]
		var got []string
		for _, p := range rule.Ports {
			got = append(got, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
		}
		sort.Strings(got)
		sort.Strings(wantPorts)
		if !slices.Equal(got, wantPorts) {
			t.Errorf("NetworkPolicy %s ports %v, want %v", pname, got, wantPorts)
		}
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy %s admits no one", pname)
		}
	}
	mesh := rel.policies[name+"-mesh"]
	if mesh != nil && len(mesh.Spec.Ingress) == 1 {
		from := mesh.Spec.Ingress[0].From
		if len(from) < 2 || from[0].PodSelector == nil || !labels.SelectorFromSet(from[0].PodSelector.MatchLabels).Matches(podLabels) {
			t.Errorf("NetworkPolicy %s: peers %+v, want the region's own agents and the other regions'", mesh.Name, from)
		}
	}
}

// checkMounts: every file the region's agent reads is in a mounted Secret
// (whole directories, no subPath, so renewals arrive), every env: variable
// comes from a Secret, and the topology and state are where the args say.
func checkMounts(t *testing.T, tp *topo, region string, rel *release, pod corev1.PodSpec, c corev1.Container, envs map[string]corev1.EnvVar) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	top, ok := mounts["/etc/geomesh/topology.yaml"]
	if !ok || top.SubPath != "topology.yaml" || volumes[top.Name].ConfigMap == nil || volumes[top.Name].ConfigMap.Name != rel.configMap.Name {
		t.Errorf("/etc/geomesh/topology.yaml is %+v, want the ConfigMap %s", top, rel.configMap.Name)
	}
	if m, ok := mounts["/var/lib/geomesh"]; !ok || m.Name != "state" || m.ReadOnly {
		t.Errorf("/var/lib/geomesh is %+v, want the state volume, writable", m)
	}
	files, envNames := tp.references(region)
	if len(files) == 0 {
		t.Fatal("the testdata topology names no files: the mount check would prove nothing")
	}
	for _, f := range files {
		m, ok := mounts[path.Dir(f)]
		if !ok {
			t.Errorf("%s (named in the topology) is in no mounted volume", f)
			continue
		}
		v := volumes[m.Name]
		if v.Secret == nil || m.SubPath != "" || !m.ReadOnly {
			t.Errorf("%s: mount %+v of %+v, want a read-only Secret volume without subPath", f, m, v)
			continue
		}
		if len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == path.Base(f) }) {
			t.Errorf("%s: Secret %s's items %+v leave it out", f, v.Secret.SecretName, v.Secret.Items)
		}
	}
	for _, n := range envNames {
		e, ok := envs[n]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env:%s (named in the topology) is %+v, want a secretKeyRef", n, e)
		}
	}
}

// checkMonitoring: the ServiceMonitor scrapes the headless Service (ready or
// not) with the read token; the PrometheusRule is the repository's rules.
func checkMonitoring(t *testing.T, rel *release, headless, api *corev1.Service, tp *topo) {
	t.Helper()
	sm := rel.monitor
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	sel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(headless.Labels)) || sel.Matches(labels.Set(api.Labels)) {
		t.Errorf("ServiceMonitor selects %v; want the headless Service %s alone", sm.Spec.Selector.MatchLabels, headless.Name)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %+v, want one", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	wantScheme := "http"
	if tp.API.TLS != nil {
		wantScheme = "https"
	}
	if ep.Port != "api" || ep.Path != "/metrics" || ep.Scheme.String() != wantScheme {
		t.Errorf("ServiceMonitor endpoint %s %s %s, want port api /metrics over %s", ep.Port, ep.Path, ep.Scheme.String(), wantScheme)
	}
	if tp.API.ReadToken != "" && (ep.Authorization == nil || ep.Authorization.Credentials == nil || ep.Authorization.Credentials.Name == "") {
		t.Errorf("the topology protects /metrics with a read token, the ServiceMonitor gives none: %+v", ep.Authorization)
	}
	if tp.API.TLS != nil && ep.TLSConfig == nil {
		t.Error("the API is served over TLS, the ServiceMonitor has no tlsConfig")
	}

	if rel.rule == nil {
		t.Fatal("no PrometheusRule")
	}
	var want struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join("..", "..", "..", "configs", "prometheus", "geomesh.rules.yml")), &want); err != nil {
		t.Fatalf("configs/prometheus/geomesh.rules.yml: %v", err)
	}
	if len(want.Groups) == 0 {
		t.Fatal("configs/prometheus/geomesh.rules.yml has no groups")
	}
	if !reflect.DeepEqual(rel.rule.Spec.Groups, want.Groups) {
		t.Errorf("PrometheusRule groups differ from configs/prometheus/geomesh.rules.yml:\ngot  %s\nwant %s",
			strings.Join(ruleNames(rel.rule.Spec.Groups), " "), strings.Join(ruleNames(want.Groups), " "))
	}
}

func ruleNames(groups []monitoringv1.RuleGroup) []string {
	var out []string
	for _, g := range groups {
		for _, r := range g.Rules {
			out = append(out, g.Name+"/"+r.Alert+r.Record)
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
