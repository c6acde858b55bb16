package helmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/getter"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// namespace is where every test release goes; the testdata topologies name
// the pods' DNS names in it.
const namespace = "geomesh"

// examples are the example topologies of configs/examples with their
// regions, in file order; testdata/<example> holds their Kubernetes version.
var examples = map[string][]string{
	"active-passive": {"us-east", "eu-west", "witness"},
	"active-active":  {"us-east", "eu-west", "ap-south"},
	"hub-spoke":      {"central", "central-2", "store-a", "store-b", "store-c"},
}

// geomeshBin is the geomesh binary TestMain builds from the root module.
var geomeshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "geomesh-helm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	geomeshBin = filepath.Join(dir, "geomesh")
	build := exec.Command("go", "build", "-o", geomeshBin, "./cmd/geomesh")
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build geomesh from the root module: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// chartDir is the chart under test.
func chartDir() string {
	if d := os.Getenv("GEOMESH_HELM_CHART"); d != "" {
		return d
	}
	return filepath.Join("..", "geomesh")
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("load chart %s: %v", chartDir(), err)
	}
	return ch
}

// releaseValues merges an example's values as the helm command line would:
// -f common.yaml -f <region>.yaml --set-file topology=topology.yaml.
func releaseValues(t *testing.T, example, region string) map[string]any {
	t.Helper()
	dir := filepath.Join("testdata", example)
	opts := values.Options{
		ValueFiles: []string{filepath.Join(dir, "common.yaml"), filepath.Join(dir, region+".yaml")},
		FileValues: []string{"topology=" + filepath.Join(dir, "topology.yaml")},
	}
	v, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values of %s/%s: %v", example, region, err)
	}
	return v
}

// render renders the chart as `helm template --namespace geomesh NAME`
// does, with schema validation, and returns the manifests by template.
func render(ch *chart.Chart, name string, vals map[string]any) (map[string]string, error) {
	opts := common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := util.ToRenderValuesWithSchemaValidation(ch, vals, opts, common.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	source string // template and document number
	kind   string
	obj    any
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits the rendered templates into documents and decodes each
// strictly into its API type; a kind it does not know fails the test.
func decode(t *testing.T, rendered map[string]string) []object {
	t.Helper()
	var objs []object
	for name, text := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for i, doc := range docSep.Split(text, -1) {
			if isBlank(doc) {
				continue
			}
			src := fmt.Sprintf("%s#%d", name, i)
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", src, err, doc)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "networking.k8s.io/v1 NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			case "monitoring.coreos.com/v1 PrometheusRule":
				obj = &monitoringv1.PrometheusRule{}
			default:
				t.Fatalf("%s: unknown kind %q %q: add it to the test's decoder", src, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: strict decoding into %T: %v\n%s", src, obj, err, doc)
			}
			objs = append(objs, object{source: src, kind: tm.Kind, obj: obj})
		}
	}
	return objs
}

// isBlank reports whether a document holds nothing but comments and space.
func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// renderRelease renders one region's release of an example and decodes it.
func renderRelease(t *testing.T, ch *chart.Chart, example, region string) (*release, map[string]any) {
	t.Helper()
	vals := releaseValues(t, example, region)
	rendered, err := render(ch, "geomesh-"+region, vals)
	if err != nil {
		t.Fatalf("render %s/%s: %v", example, region, err)
	}
	return newRelease(t, decode(t, rendered)), vals
}

// release holds the objects of one rendered release by kind.
type release struct {
	sts        *appsv1.StatefulSet
	configMap  *corev1.ConfigMap
	services   map[string]*corev1.Service
	policies   map[string]*networkingv1.NetworkPolicy
	pdb        *policyv1.PodDisruptionBudget
	sa         *corev1.ServiceAccount
	monitor    *monitoringv1.ServiceMonitor
	rule       *monitoringv1.PrometheusRule
	kindCounts map[string]int
	all        []object
}

func newRelease(t *testing.T, objs []object) *release {
	t.Helper()
	r := &release{
		services:   map[string]*corev1.Service{},
		policies:   map[string]*networkingv1.NetworkPolicy{},
		kindCounts: map[string]int{},
		all:        objs,
	}
	for _, o := range objs {
		r.kindCounts[o.kind]++
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			r.sts = v
		case *corev1.ConfigMap:
			r.configMap = v
		case *corev1.Service:
			r.services[v.Name] = v
		case *networkingv1.NetworkPolicy:
			r.policies[v.Name] = v
		case *policyv1.PodDisruptionBudget:
			r.pdb = v
		case *corev1.ServiceAccount:
			r.sa = v
		case *monitoringv1.ServiceMonitor:
			r.monitor = v
		case *monitoringv1.PrometheusRule:
			r.rule = v
		}
	}
	return r
}

// checkMeta checks what every object shares: its namespace, a valid name
// and valid labels.
func checkMeta(t *testing.T, o object) {
	t.Helper()
	m, ok := o.obj.(interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	})
	if !ok {
		t.Fatalf("%s: %T has no object metadata", o.source, o.obj)
	}
	if m.GetNamespace() != namespace {
		t.Errorf("%s: namespace %q, want %q", o.source, m.GetNamespace(), namespace)
	}
	if errs := validation.IsDNS1123Subdomain(m.GetName()); len(errs) > 0 {
		t.Errorf("%s: name %q: %v", o.source, m.GetName(), errs)
	}
	for k, v := range m.GetLabels() {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("%s: label key %q: %v", o.source, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("%s: label %s=%q: %v", o.source, k, v, errs)
		}
	}
}

// validateTopology runs geomesh validate on a rendered topology. The files
// it names are the pods' mounted Secrets, which this host lacks.
func validateTopology(t *testing.T, text string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(geomeshBin, "validate", "--check-files=false", f).CombinedOutput()
	if err != nil {
		t.Fatalf("geomesh validate of the rendered topology: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), ": ok (") {
		t.Fatalf("geomesh validate said %q, want ok", out)
	}
}

// readFile reads a file of the repository or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
