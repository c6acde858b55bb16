package topology

import (
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
    agents: [{id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}]
  - name: eu-west
    kafka:
      bootstrap: [kafka-1.eu-west.example.com:9093]
      tls: {ca_file: /etc/geomesh/ca.pem}
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh-eu, password: env:KAFKA_PASSWORD}
    agents: [{id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}]
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
    agents: [{id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}]
  - name: eu-west
    kafka:
      <<: *kafka
      bootstrap: [kafka-1.eu-west.example.com:9093]
      sasl: {<<: *sasl, username: geomesh-eu}
    agents: [{id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}]
`,
		"merge a list, the first wins": `mesh: shop
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
regions:
  - name: us-east
    kafka:
      bootstrap: [kafka-1.us-east.example.com:9093]
      tls: &tls {ca_file: /etc/geomesh/ca.pem}
      sasl: &sasl {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
    agents: [{id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}]
  - name: eu-west
    kafka:
      bootstrap: [kafka-1.eu-west.example.com:9093]
      tls: *tls
      sasl:
        <<: [{username: geomesh-eu}, *sasl, {username: nobody, mechanism: PLAIN}]
    agents: [{id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}]
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
    agents: [{id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}]
  - name: eu-west
    kafka:
      <<: *kafka
      bootstrap: [kafka-1.eu-west.example.com:9093]
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh-eu, password: env:KAFKA_PASSWORD}
    agents: [{id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}]
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
