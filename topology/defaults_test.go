package topology

import (
	"reflect"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	m, err := Load("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"topics", m.Topics, MustSelection([]string{".*"}, nil)},
		{"groups", m.Groups, MustSelection([]string{".*"}, nil)},
		{"naming", m.Naming, NamingIdentity},
		{"replication", m.Replication, Replication{Mode: ReplicationExactlyOnce, OnError: OnErrorPause, TopicDeletion: TopicDeletionOff, Compression: CompressionSource}},
		{"failover.mode", m.Failover.Mode, FailoverManual},
		{"failover.stranded", m.Failover.Stranded, StrandedQuarantine},
		{"failover.detection", m.Failover.Detection, Detection{
			ProbeInterval:      time.Second,
			ProbeTimeout:       500 * time.Millisecond,
			SuspicionMult:      4,
			KafkaProbeInterval: 2 * time.Second,
			DownAfter:          10 * time.Second,
		}},
		{"failover.quorum", m.Failover.Quorum, Quorum{Voters: []string{"us-east", "eu-west"}}},
		{"control_plane", m.ControlPlane, ControlPlane{Embedded: true}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultNaming: prefixes where several regions write into one, the
// names unchanged where a standby must look like its primary.
func TestDefaultNaming(t *testing.T) {
	for file, want := range map[string]Naming{
		"../configs/examples/active-passive.yaml": NamingIdentity,
		"../configs/examples/active-active.yaml":  NamingPrefix,
		"../configs/examples/hub-spoke.yaml":      NamingPrefix,
	} {
		m, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if m.Naming != want {
			t.Errorf("%s: naming %s, want %s", file, m.Naming, want)
		}
	}
}

func TestFullFile(t *testing.T) {
	m, err := Load("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	central, ok := m.Region("central")
	if !ok {
		t.Fatal("no region central")
	}
	want := Kafka{
		Bootstrap: []string{"kafka-1.central.example.com:9093", "kafka-2.central.example.com:9093"},
		TLS: &TLS{
			CAFile: "/etc/geomesh/ca.pem", CertFile: "/etc/geomesh/client.pem",
			KeyFile: "/etc/geomesh/client-key.pem", ServerName: "kafka.central.example.com",
		},
		SASL: &SASL{Mechanism: "SCRAM-SHA-512", Username: "geomesh", Password: Secret{Ref: "env:CENTRAL_KAFKA_PASSWORD"}},
	}
	if !reflect.DeepEqual(*central.Kafka, want) {
		t.Errorf("central kafka = %+v, want %+v", *central.Kafka, want)
	}
	if w, _ := m.Region("witness"); w.Kafka != nil || !w.Witness {
		t.Errorf("witness = %+v", w)
	}
	if got := m.Failover.Detection.DownAfter; got != 30*time.Second {
		t.Errorf("down_after = %s", got)
	}
	if got := m.ControlPlane; got.Embedded || len(got.URLs) != 2 {
		t.Errorf("control plane = %+v", got)
	}
	wantTLS := ControlPlaneTLS{CAFile: "/etc/geomesh/nats-ca.pem", CertFile: "/etc/geomesh/nats.pem",
		KeyFile: "/etc/geomesh/nats-key.pem", ServerName: "nats.example.com"}
	if got := m.ControlPlane.TLS; got == nil || *got != wantTLS {
		t.Errorf("control plane tls = %+v, want %+v", got, wantTLS)
	}
	if got := m.ControlPlane.Credentials; got == nil || !reflect.DeepEqual(*got, ControlPlaneCredentials{NkeySeedFile: "/etc/geomesh/nats.nk"}) {
		t.Errorf("control plane credentials = %+v", got)
	}
	if got, want := m.DataRegions(), []string{"central", "central-2", "store-a", "store-b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("data regions = %v, want %v", got, want)
	}
}

func TestGossipDetection(t *testing.T) {
	d := Detection{ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4}
	for agents, want := range map[int]time.Duration{
		1:   5500 * time.Millisecond,
		10:  5500 * time.Millisecond,
		100: 9500 * time.Millisecond,
	} {
		if got := d.GossipDetection(agents); got != want {
			t.Errorf("GossipDetection(%d) = %s, want %s", agents, got, want)
		}
	}
}

func TestMapPrincipal(t *testing.T) {
	m := &Mesh{Regions: []Region{
		{Name: "a", Kafka: &Kafka{Principals: map[string]string{"User:orders": "User:orders-a"}}},
		{Name: "b", Kafka: &Kafka{Principals: map[string]string{"User:orders": "User:orders-b"}}},
		{Name: "c", Kafka: &Kafka{}},
	}}
	for _, tc := range []struct{ from, to, p, want string }{
		{"a", "b", "User:orders-a", "User:orders-b"},
		{"a", "c", "User:orders-a", "User:orders"},
		{"c", "a", "User:orders", "User:orders-a"},
		{"a", "b", "User:other", "User:other"},
	} {
		if got := m.MapPrincipal(tc.from, tc.to, tc.p); got != tc.want {
			t.Errorf("MapPrincipal(%s, %s, %s) = %s, want %s", tc.from, tc.to, tc.p, got, tc.want)
		}
	}
}

func TestSecureEmbeddedControlPlane(t *testing.T) {
	m, err := Load("testdata/valid/secure-control-plane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := ControlPlane{
		Embedded: true,
		TLS:      &ControlPlaneTLS{CAFile: "/etc/geomesh/nats-ca.pem", CertFile: "/etc/geomesh/nats.pem", KeyFile: "/etc/geomesh/nats-key.pem"},
		Credentials: &ControlPlaneCredentials{User: "geomesh", Password: Secret{Ref: "file:/run/secrets/nats-route.new"},
			AcceptPasswords: []Secret{{Ref: "file:/run/secrets/nats-route"}}},
	}
	if !reflect.DeepEqual(m.ControlPlane, want) {
		t.Errorf("control plane = %+v, want %+v", m.ControlPlane, want)
	}
}
