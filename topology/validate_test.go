package topology

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a valid active-passive mesh on loopback addresses; tests replace
// parts of it with strings.Replace.
const base = `mesh: shop
topology:
  kind: active-passive
  primary: us-east
  standby: [eu-west]
regions:
  - name: us-east
    kafka: {bootstrap: [127.0.0.1:19092], embedded: true}
    agents: [{id: us-east-1, gossip: 127.0.0.1:17946, api: 127.0.0.1:18080, control: 127.0.0.1:16222}]
  - name: eu-west
    kafka: {bootstrap: [127.0.0.1:19093], embedded: true}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:17947, api: 127.0.0.1:18081, control: 127.0.0.1:16223}]
`

// edit returns base with each old string replaced by the new one that
// follows it; each old string must occur in base.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q is not in the base file", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// problems parses text and returns its messages without positions, or
// nil for a valid file.
func problems(t *testing.T, text string, opts ...Option) []string {
	t.Helper()
	_, err := Parse("mesh.yaml", []byte(text), opts...)
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v (%T), want Errors", err, err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Msg)
	}
	return out
}

// wantProblem fails unless text is refused with a message containing want.
func wantProblem(t *testing.T, text, want string, opts ...Option) {
	t.Helper()
	got := problems(t, text, opts...)
	for _, m := range got {
		if strings.Contains(m, want) {
			return
		}
	}
	t.Errorf("want a problem containing %q, got %q\n%s", want, got, text)
}

func wantValid(t *testing.T, text string, opts ...Option) {
	t.Helper()
	if got := problems(t, text, opts...); got != nil {
		t.Errorf("want a valid file, got %q\n%s", got, text)
	}
}

func TestBaseValid(t *testing.T) { wantValid(t, base) }

func TestAgentIDs(t *testing.T) {
	for _, id := range []string{"us-east-1", "a", "0", "a.b_c-d", "node.eu-west.1", strings.Repeat("a", 63)} {
		wantValid(t, edit(t, "{id: us-east-1,", "{id: \""+id+"\","))
	}
	for _, id := range []string{"..", ".hidden", "../x", "a/b", "-x", "_x", "Us-East-1", "a b", "a\\nb", "a\\tb",
		"<script>", "a&b", "ü", strings.Repeat("a", 64)} {
		wantProblem(t, edit(t, "{id: us-east-1,", "{id: \""+id+"\","), "must be lowercase letters, digits, '.', '_' and '-'")
	}
}

func TestRegionAndMeshNames(t *testing.T) {
	for _, name := range []string{"x", "eu-west-2", "a1", strings.Repeat("a", 63)} {
		wantValid(t, edit(t, "mesh: shop", "mesh: "+name))
		wantValid(t, edit(t, "name: eu-west", "name: "+name, "standby: [eu-west]", "standby: ["+name+"]"))
	}
	for _, name := range []string{"../x", "eu.west", "eu_west", "EU", "-eu", "eu-", "a b", "a\\nb", "<b>", strings.Repeat("a", 64)} {
		wantProblem(t, edit(t, "mesh: shop", "mesh: \""+name+"\""), "mesh name")
		wantProblem(t, edit(t, "name: eu-west", "name: \""+name+"\""), "region name")
	}
}

// TestBounds: every number in the model has bounds, its doc comment
// states them, and the checker enforces them at both ends.
func TestBounds(t *testing.T) {
	docs, err := fieldDocs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t2 reflect.Type) {
		for t2.Kind() == reflect.Pointer || t2.Kind() == reflect.Slice {
			t2 = t2.Elem()
		}
		if t2.Kind() != reflect.Struct || seen[t2] {
			return
		}
		seen[t2] = true
		for _, f := range fieldsOf(t2) {
			sf := f.owner.FieldByIndex(f.index[len(f.index)-1:])
			if sf.Type != durationType && sf.Type.Kind() != reflect.Int {
				walk(sf.Type)
				continue
			}
			b, ok := boundOf(sf)
			if !ok {
				t.Errorf("%s.%s has no min and max tags", f.owner.Name(), f.goName)
				continue
			}
			want := fmt.Sprintf("At least %s, at most %s.", b.minText, b.maxText)
			if doc := docs[f.owner.Name()+"."+f.goName]; !strings.Contains(doc, want) {
				t.Errorf("the comment of %s.%s does not say %q: %s", f.owner.Name(), f.goName, want, doc)
			}
		}
	}
	walk(reflect.TypeFor[document]())
	if !seen[reflect.TypeFor[Detection]()] {
		t.Fatal("Detection not reached")
	}

	for _, c := range []struct {
		key, ok, low, high string
	}{
		{"probe_interval", "10ms", "9ms", "61s"},
		{"probe_timeout", "5ms", "4ms", "2m"},
		{"suspicion_mult", "100", "", "101"},
		{"kafka_probe_interval", "100ms", "99ms", "601s"},
		{"down_after", "24h", "999ms", "24h1s"},
	} {
		file := func(v string) string {
			// A lax detection elsewhere, so that only the bound can fail.
			det := map[string]string{"probe_interval": "10ms", "probe_timeout": "5ms", "suspicion_mult": "1", "kafka_probe_interval": "100ms", "down_after": "24h"}
			det[c.key] = v
			var kv []string
			for k, v := range det {
				kv = append(kv, k+": "+v)
			}
			return base + "failover:\n  detection: {" + strings.Join(kv, ", ") + "}\n"
		}
		wantValid(t, file(c.ok))
		if c.low != "" {
			wantProblem(t, file(c.low), c.key+" must be at least")
		}
		wantProblem(t, file(c.high), c.key+" must be at most")
	}
	wantValid(t, base+"failover:\n  hooks: [{exec: [x], timeout: 100ms}, {exec: [y], timeout: 1h}]\n")
	wantProblem(t, base+"failover:\n  hooks: [{exec: [x], timeout: 99ms}]\n", "timeout must be at least 100ms, got 99ms")
	wantProblem(t, base+"failover:\n  detection: {suspicion_mult: 9223372036854775807}\n", "suspicion_mult must be at most 100, got 9223372036854775807")
	// A multiplier far out of range is reported alone, not also as a
	// down_after shorter than an overflowed detection time.
	if got := problems(t, base+"failover:\n  detection: {suspicion_mult: 9223372036854775807, down_after: 1s}\n"); len(got) != 1 {
		t.Errorf("got %q, want the bound alone", got)
	}
}

func TestGossipDetectionSaturates(t *testing.T) {
	for _, d := range []Detection{
		{ProbeInterval: time.Second, ProbeTimeout: time.Second, SuspicionMult: math.MaxInt},
		{ProbeInterval: math.MaxInt64, ProbeTimeout: math.MaxInt64, SuspicionMult: 4},
	} {
		for _, agents := range []int{1, 1000, math.MaxInt} {
			if got := d.GossipDetection(agents); got != math.MaxInt64 {
				t.Errorf("%+v with %d agents: %s, want the largest duration", d, agents, got)
			}
		}
	}
	d := Detection{ProbeInterval: time.Minute, ProbeTimeout: time.Minute, SuspicionMult: 100}
	if got, want := d.GossipDetection(1000), 2*time.Minute+300*time.Minute; got != want {
		t.Errorf("largest bounded detection = %s, want %s", got, want)
	}
}

// TestInsecure: each insecure setting is refused where it is written,
// unless allow_insecure names it; loopback exposes nothing.
func TestInsecure(t *testing.T) {
	exposed := strings.NewReplacer("127.0.0.1:", "10.0.0.1:", "127.0.0.1:1909", "127.0.0.1:1909").Replace(base)
	exposed = strings.ReplaceAll(exposed, "bootstrap: [10.0.0.1:19092], embedded: true", "bootstrap: [kafka.us-east.example.com:9092]")
	exposed = strings.ReplaceAll(exposed, "bootstrap: [10.0.0.1:19093], embedded: true", "bootstrap: [kafka.eu-west.example.com:9092]")
	secure := `api: {read_token: env:READ, admin_token: env:ADMIN}
control_plane:
  embedded: true
  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}
`
	wantValid(t, exposed+secure)
	for _, c := range []struct {
		name, file, want string
		kind             Insecure
	}{
		{"control plane", exposed + "api: {read_token: env:READ, admin_token: env:ADMIN}\n",
			"the embedded control plane listens on 10.0.0.1:16222 without tls", InsecureControlPlaneWithoutTLS},
		{"external control plane", exposed + "api: {read_token: env:READ, admin_token: env:ADMIN}\ncontrol_plane: {urls: [nats://nats.example.com:4222]}\n",
			"the control plane at nats://nats.example.com:4222 is reached without tls", InsecureControlPlaneWithoutTLS},
		{"api", exposed + "control_plane: {embedded: true, tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}}\n",
			"agents serve their API on non-loopback addresses such as 10.0.0.1:18080 without tokens", InsecureAPIWithoutToken},
		{"sasl plain", strings.Replace(exposed+secure, "kafka.us-east.example.com:9092]", "kafka.us-east.example.com:9092], sasl: {mechanism: PLAIN, username: u, password: env:P}", 1),
			"region us-east sends its kafka password in the clear", InsecureSASLPlainWithoutTLS},
		{"skip verify", strings.Replace(exposed+secure, "kafka.us-east.example.com:9092]", "kafka.us-east.example.com:9092], tls: {insecure_skip_verify: true}, sasl: {mechanism: SCRAM-SHA-256, username: u, password: env:P}", 1),
			"does not verify (insecure_skip_verify)", InsecureSkipVerifyWithPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, c.file, c.want)
			wantProblem(t, c.file, "or accept the risk with allow_insecure: ["+string(c.kind)+"]")
			allowed := c.file + "allow_insecure: [" + string(c.kind) + "]\n"
			wantValid(t, allowed)
			m, err := Parse("mesh.yaml", []byte(allowed))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Insecure(); len(got) != 1 || !strings.HasPrefix(got[0], string(c.kind)+": ") || !strings.Contains(got[0], c.want) {
				t.Errorf("Insecure() = %q, want one warning about %s", got, c.kind)
			}
		})
	}
	// Safe forms of the same settings.
	wantValid(t, base)
	wantValid(t, strings.Replace(exposed+secure, "kafka.us-east.example.com:9092]", "kafka.us-east.example.com:9092], tls: {}, sasl: {mechanism: PLAIN, username: u, password: env:P}", 1))
	wantValid(t, strings.Replace(exposed+secure, "kafka.us-east.example.com:9092]", "kafka.us-east.example.com:9092], tls: {insecure_skip_verify: true}", 1))
	wantValid(t, strings.Replace(base, "bootstrap: [127.0.0.1:19092], embedded: true", "bootstrap: [127.0.0.1:19092], sasl: {mechanism: PLAIN, username: u, password: env:P}", 1))
	wantProblem(t, base+"allow_insecure: [everything]\n", `unknown allow_insecure entry "everything"; want sasl-plain-without-tls, insecure-skip-verify-with-password, control-plane-without-tls or api-without-token`)

	m, err := Load("testdata/valid/insecure-allowed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, w := range m.Insecure() {
		kinds = append(kinds, w[:strings.Index(w, ":")])
	}
	if want := []string{"sasl-plain-without-tls", "insecure-skip-verify-with-password", "control-plane-without-tls", "api-without-token"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("insecure-allowed.yaml warns of %q, want %q", kinds, want)
	}
}

// TestCheckFiles: referenced files are opened only when asked, as
// `geomesh validate` does; an agent's Load leaves them to its first use.
func TestCheckFiles(t *testing.T) {
	const file = "testdata/invalid/files-unreadable.yaml"
	if _, err := Load(file); err != nil {
		t.Errorf("without CheckFiles: %v", err)
	}
	if _, err := Load(file, CheckFiles()); err == nil {
		t.Error("with CheckFiles: no error")
	}
	// The files of full.yaml are reported: none of these exists on a test
	// host (its krb5_conf, /etc/krb5.conf, may).
	_, err := Load("testdata/valid/full.yaml", CheckFiles())
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("full.yaml with CheckFiles: %v", err)
	}
	for _, want := range []string{"ca_file /etc/geomesh/ca.pem", "keytab /etc/geomesh/geomesh.keytab",
		"password file:/run/secrets/kafka", "read_token file:/etc/geomesh/read-token", "cert_file /etc/geomesh/api.pem",
		"keys[0] file:/etc/geomesh/gossip-key", "nkey_seed_file /etc/geomesh/nats.nk", "ca_file /etc/geomesh/nats-ca.pem"} {
		if !strings.Contains(err.Error(), want+" cannot be read") {
			t.Errorf("full.yaml with CheckFiles does not report %s:\n%v", want, err)
		}
	}
}
