package topology

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// spelled is a mesh written out in full.
const spelled = `mesh: shop
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka:
      bootstrap: [kafka-1.us-east.example.com:9093]
      tls: {ca_file: /etc/geomesh/ca.pem}
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
    agents: [{id: us-east-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: eu-west
    kafka:
      bootstrap: [kafka-1.eu-west.example.com:9093]
      tls: {ca_file: /etc/geomesh/ca.pem}
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh-eu, password: env:KAFKA_PASSWORD}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:7947, api: 127.0.0.1:8081, control: 127.0.0.1:6223}]
`

// TestAliasesAndMergeKeys: anchors, aliases and merge keys give the mesh
// written out in full; a key the mapping sets wins over a merged one, and
// the first of several merged mappings over the next.
func TestAliasesAndMergeKeys(t *testing.T) {
	want, err := Parse("spelled.yaml", []byte(spelled))
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"merge one mapping": `mesh: shop
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka: &kafka
      bootstrap: [kafka-1.us-east.example.com:9093]
      tls: &tls {ca_file: /etc/geomesh/ca.pem}
      sasl: &sasl {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
    agents: [{id: us-east-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: eu-west
    kafka:
      <<: *kafka
      bootstrap: [kafka-1.eu-west.example.com:9093]
      sasl: {<<: *sasl, username: geomesh-eu}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:7947, api: 127.0.0.1:8081, control: 127.0.0.1:6223}]
`,
		"merge a list, the first wins": `mesh: shop
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka:
      bootstrap: [kafka-1.us-east.example.com:9093]
      tls: &tls {ca_file: /etc/geomesh/ca.pem}
      sasl: &sasl {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
    agents: [{id: us-east-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: eu-west
    kafka:
      bootstrap: [kafka-1.eu-west.example.com:9093]
      tls: *tls
      sasl:
        <<: [{username: geomesh-eu}, *sasl, {username: nobody, mechanism: PLAIN}]
    agents: [{id: eu-west-1, gossip: 127.0.0.1:7947, api: 127.0.0.1:8081, control: 127.0.0.1:6223}]
`,
		"merge into a merged mapping": `mesh: shop
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka: &kafka
      <<: &secure
        tls: {ca_file: /etc/geomesh/ca.pem}
        sasl: {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
      bootstrap: [kafka-1.us-east.example.com:9093]
    agents: [{id: us-east-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: eu-west
    kafka:
      <<: *kafka
      bootstrap: [kafka-1.eu-west.example.com:9093]
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh-eu, password: env:KAFKA_PASSWORD}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:7947, api: 127.0.0.1:8081, control: 127.0.0.1:6223}]
`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("anchors.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got.Regions, want.Regions)
			}
		})
	}
}

func TestMergeKeyErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"a scalar", "mesh: shop\ntopology: {<<: active-active}\n", "2:16: a merge key (<<) takes a mapping or a list of mappings, got a string"},
		{"a list holding a list", "mesh: shop\ntopology: {<<: [{kind: active-active}, [x]]}\n", "2:40: a merge key (<<) takes a mapping or a list of mappings, got a list"},
		{"its own mapping", "mesh: shop\ntopology: &t {<<: *t, kind: active-active}\n", "2:19: a merge key (<<) cannot bring in the mapping it is in"},
		// A merged key is checked where it is written.
		{"unknown key merged", "mesh: shop\nnaming: prefix\ntopology: {<<: {kind: active-active, primry: x}}\n", "3:38: unknown key \"primry\" in topology (did you mean \"primary\"?)"},
		// A quoted "<<" is an ordinary key.
		{"quoted", "mesh: shop\ntopology: {\"<<\": {kind: active-active}}\n", "2:12: unknown key \"<<\" in topology"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error()+"\n", "f.yaml:"+c.want+"\n") {
				t.Errorf("got\n%v\nwant it to hold\nf.yaml:%s", err, c.want)
			}
		})
	}
}

// TestAliasBomb: a 16 KB file whose aliases would make 2.5 million agents
// is refused at once, in little memory. It took over a minute and
// gigabytes before aliases were bounded.
func TestAliasBomb(t *testing.T) {
	bombs := map[string]string{"testdata/invalid/alias-bomb.yaml": ""}
	// Merge keys nested nine deep, each bringing in the level below ten
	// times: ten to the ninth keys considered.
	var b strings.Builder
	b.WriteString("mesh: shop\ntopology:\n  <<: &l0 {kind: active-active}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  x%d: &l%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("regions: [{<<: *l9}]\n")
	bombs["merge keys"] = b.String()
	for name, src := range bombs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			var err error
			if src == "" {
				_, err = Load(name)
			} else {
				_, err = Parse(name, []byte(src))
			}
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "refused as an alias bomb") {
				t.Fatalf("got %v, want an alias bomb refused", err)
			}
			if took > time.Second {
				t.Errorf("took %s, want under 1s", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100<<20 {
				t.Errorf("allocated %d MB, want under 100 MB", alloc>>20)
			}
		})
	}
}

// TestSharedAnchors: the bound on aliases leaves room for a large mesh
// whose regions all merge one shared block.
func TestSharedAnchors(t *testing.T) {
	var b strings.Builder
	b.WriteString("mesh: shop\ntopology: {kind: active-active}\nfailover: {detection: {down_after: 30s}}\nregions:\n")
	for i := range 1000 {
		if i == 0 {
			b.WriteString("  - name: r0\n    kafka: &kafka\n      bootstrap: [\"k0:9093\"]\n" +
				"      tls: {ca_file: /etc/ca.pem, cert_file: /etc/cert.pem, key_file: /etc/key.pem}\n" +
				"      sasl: {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}\n" +
				"      principals: {User:a: User:a, User:b: User:b, User:c: User:c}\n")
		} else {
			fmt.Fprintf(&b, "  - name: r%d\n    kafka: {<<: *kafka, bootstrap: [\"k%d:9093\"]}\n", i, i)
		}
		fmt.Fprintf(&b, "    agents: [{id: a%d, gossip: \"10.0.%d.%d:7946\", api: \"10.0.%d.%d:8080\", control: \"10.0.%d.%d:6222\"}]\n",
			i, i/256, i%256, i/256, i%256, i/256, i%256)
	}
	// Decoding alone: planning this many regions is another test's concern.
	d := newDecoder("shared.yaml")
	root := d.parseYAML([]byte(b.String()))
	var doc document
	if root == nil || !d.decodeFile(root, &doc) || len(d.errs) > 0 {
		t.Fatal(d.errs)
	}
	if k := doc.Regions[999].Kafka; k.SASL == nil || k.SASL.Username != "geomesh" || len(k.Principals) != 3 || k.Bootstrap[0] != "k999:9093" {
		t.Errorf("region r999 kafka = %+v", k)
	}
	t.Logf("%d nodes written, %d repeated, bound %d", d.written, d.repeated, repeatFactor*d.written+repeatBase)
}

// decodeOnly decodes src without validating it; it may leave out the
// keys a file needs.
func decodeOnly(t *testing.T, src string) (*document, Errors) {
	t.Helper()
	d := newDecoder("f.yaml")
	var doc document
	if root := d.parseYAML([]byte(src)); root != nil {
		d.decodeFile(root, &doc)
	}
	var errs Errors
	for _, e := range d.errs.sorted() {
		if !strings.HasPrefix(e.Msg, "missing key") {
			errs = append(errs, e)
		}
	}
	return &doc, errs
}

// TestIntegers: integers are read as YAML 1.2 writes them; a leading zero,
// which YAML 1.1 and 1.2 read differently, and values beyond 64 bits are
// said so.
func TestIntegers(t *testing.T) {
	for _, c := range []struct {
		value string
		want  int
		err   string
	}{
		{value: "4", want: 4},
		{value: "+4", want: 4},
		{value: "0x4", want: 4},
		{value: "0X1f", want: 31},
		{value: "0o4", want: 4},
		{value: "0b100", want: 4},
		{value: "1_000", want: 1000},
		{value: "9223372036854775807", want: 9223372036854775807},
		{value: "010", err: "1:40: suspicion_mult: 010 has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as decimal; write it without the zero, or as 0o10 for octal"},
		{value: "9223372036854775808", err: "1:40: suspicion_mult: 9223372036854775808 is out of range; an integer here is at most 9223372036854775807"},
		{value: "-99999999999999999999", err: "1:40: suspicion_mult: -99999999999999999999 is out of range; an integer here is at most 9223372036854775807"},
		{value: "0x1ffffffffffffffff", err: "1:40: suspicion_mult: 0x1ffffffffffffffff is out of range; an integer here is at most 9223372036854775807"},
		{value: "4.5", err: "1:40: suspicion_mult must be an integer, got 4.5"},
		{value: "1e3", err: "1:40: suspicion_mult must be an integer, got 1e3"},
		{value: ".inf", err: "1:40: suspicion_mult must be an integer, got .inf"},
		{value: "\"4\"", err: "1:40: suspicion_mult must be an integer, got a string"},
		{value: "0", err: "1:40: suspicion_mult must be at least 1, got 0"},
		{value: "-0x4", err: "1:40: suspicion_mult must be at least 1, got -4"},
	} {
		doc, errs := decodeOnly(t, "failover: {detection: {suspicion_mult: "+c.value+"}}\n")
		switch {
		case c.err == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.value, errs)
		case c.err == "" && doc.Failover.Detection.SuspicionMult != c.want:
			t.Errorf("%s = %d, want %d", c.value, doc.Failover.Detection.SuspicionMult, c.want)
		case c.err != "" && (len(errs) != 1 || errs[0].Error() != "f.yaml:"+c.err):
			t.Errorf("%s: got %v\nwant f.yaml:%s", c.value, errs, c.err)
		}
	}
}

func TestDurations(t *testing.T) {
	for _, c := range []struct {
		value string
		want  time.Duration
		err   string
	}{
		{value: "1m30s", want: 90 * time.Second},
		{value: "2562047h", want: 2562047 * time.Hour},
		{value: "100000000h", err: `1:36: down_after: duration "100000000h" is out of range; the longest is 2562047h47m16.854775807s, about 292 years`},
		{value: "9223372036854775808ns", err: `1:36: down_after: duration "9223372036854775808ns" is out of range; the longest is 2562047h47m16.854775807s, about 292 years`},
		{value: "10", err: `1:36: down_after: invalid duration "10"; write a number and a unit such as 500ms, 2s or 1m`},
		{value: "10 s", err: `1:36: down_after: invalid duration "10 s"; write a number and a unit such as 500ms, 2s or 1m`},
		{value: "10d", err: `1:36: down_after: invalid duration "10d"; write a number and a unit such as 500ms, 2s or 1m`},
		{value: "-1s", err: `1:36: down_after must be positive, got -1s`},
	} {
		doc, errs := decodeOnly(t, "failover: {detection: {down_after: "+c.value+"}}\n")
		switch {
		case c.err == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.value, errs)
		case c.err == "" && doc.Failover.Detection.DownAfter != c.want:
			t.Errorf("%s = %s, want %s", c.value, doc.Failover.Detection.DownAfter, c.want)
		case c.err != "" && (len(errs) != 1 || errs[0].Error() != "f.yaml:"+c.err):
			t.Errorf("%s: got %v\nwant f.yaml:%s", c.value, errs, c.err)
		}
	}
}

// TestTags: a tag other than the core schema's is refused wherever it
// stands; a date where a name belongs is a name, as written.
func TestTags(t *testing.T) {
	for src, want := range map[string]string{
		"mesh: !name shop\n":               "f.yaml:1:7: mesh: the tag !name is not supported; remove it",
		"topology: !kind {kind: ring}\n":   "f.yaml:1:11: topology: the tag !kind is not supported; remove it",
		"regions: [!!binary aGVsbG8=]\n":   "f.yaml:1:11: region: the tag !!binary is not supported; remove it",
		"!top\nmesh: shop\n":               "f.yaml:1:1: the file: the tag !top is not supported; remove it",
		"mesh: !!str 2024\n":               "",
		"failover: {mode: !!str manual}\n": "",
	} {
		_, errs := decodeOnly(t, src)
		if got := errs.Error(); got != want {
			t.Errorf("%q: got %q, want %q", src, got, want)
		}
	}
	doc, errs := decodeOnly(t, "mesh: 2024-01-01\n")
	if len(errs) > 0 || doc.Mesh != "2024-01-01" {
		t.Errorf("a date as a name: %q, %v", doc.Mesh, errs)
	}
}

// TestLongValues: a long value is quoted by its start and its length,
// whichever message quotes it, the decoder's or the checks'.
func TestLongValues(t *testing.T) {
	long := strings.Repeat("a", 500_000)
	src := `mesh: ` + long + `
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka: {bootstrap: ["k:1` + strings.Repeat("0", 500_000) + `"]}
    agents: [{id: us-east-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: eu-west
    kafka: {bootstrap: [k:9092]}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:7947, api: 127.0.0.1:8081, control: 127.0.0.1:6223}]
topics: {include: ["(` + long + `"]}
naming: ` + long + `
failover:
  detection: {down_after: ` + long + `}
? ` + long + `
: 1
`
	_, err := Parse("long.yaml", []byte(src))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v", err)
	}
	if len(errs) != 6 {
		t.Errorf("got %d errors, want 6:\n%v", len(errs), clipMiddle(err.Error(), 10000))
	}
	for _, e := range errs {
		if len(e.Msg) > 400 || !strings.Contains(e.Msg, "bytes)") {
			t.Errorf("%d:%d: message of %d bytes: %s", e.Line, e.Col, len(e.Msg), clipMiddle(e.Msg, 600))
		}
	}
	if t.Failed() {
		return
	}
	for _, e := range errs {
		t.Logf("%d:%d: %s", e.Line, e.Col, e.Msg)
	}
}

func TestBooleans(t *testing.T) {
	for value, want := range map[string]string{
		"true":  "",
		"True":  "",
		"false": "",
		"yes":   `f.yaml:1:21: witness must be true or false, got "yes": YAML 1.2 reads yes as a string`,
		"Off":   `f.yaml:1:21: witness must be true or false, got "Off": YAML 1.2 reads Off as a string`,
		"maybe": `f.yaml:1:21: witness must be true or false, got "maybe"`,
		"1":     `f.yaml:1:21: witness must be true or false, got a number`,
		"[]":    `f.yaml:1:21: witness must be true or false, got a list`,
	} {
		_, errs := decodeOnly(t, "regions: [{witness: "+value+"}]\n")
		if got := errs.Error(); got != want {
			t.Errorf("%s: got %q, want %q", value, got, want)
		}
	}
}
