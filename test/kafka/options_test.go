package kafkatest

import "testing"

func TestServerPropertiesScaleWithBrokers(t *testing.T) {
	for _, tc := range []struct {
		brokers    int
		rf, minISR string
		overridden map[string]string
	}{
		{brokers: 1, rf: "1", minISR: "1"},
		{brokers: 2, rf: "2", minISR: "1"},
		{brokers: 3, rf: "3", minISR: "2"},
		{brokers: 5, rf: "3", minISR: "2"},
		{
			brokers: 3, rf: "3", minISR: "1",
			overridden: map[string]string{"min.insync.replicas": "1", "transaction.state.log.min.isr": "1"},
		},
	} {
		p := Options{Brokers: tc.brokers, ServerProperties: tc.overridden}.withDefaults().serverProperties()
		for _, k := range []string{"default.replication.factor", "offsets.topic.replication.factor",
			"transaction.state.log.replication.factor", "share.coordinator.state.topic.replication.factor"} {
			if p[k] != tc.rf {
				t.Errorf("%d brokers: %s=%s, want %s", tc.brokers, k, p[k], tc.rf)
			}
		}
		for _, k := range []string{"min.insync.replicas", "transaction.state.log.min.isr"} {
			if p[k] != tc.minISR {
				t.Errorf("%d brokers, overrides %v: %s=%s, want %s", tc.brokers, tc.overridden, k, p[k], tc.minISR)
			}
		}
	}
}

func TestOptionsHost(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string // error text, empty for none
	}{
		{opts: Options{}},
		{opts: Options{Host: "10.213.0.2"}},
		{opts: Options{Host: "localhost"}, want: `kafkatest: Host "localhost" is not an IPv4 address`},
		{opts: Options{Host: "::1"}, want: `kafkatest: Host "::1" is not an IPv4 address`},
		{opts: Options{Host: "10.213.0.2", Security: &Security{}}, want: "kafkatest: Host 10.213.0.2: secured clusters listen on 127.0.0.1 only"},
		{opts: Options{Host: "10.213.0.2", BasePort: 19092}},
		{opts: Options{BasePort: 19092}, want: "kafkatest: BasePort 19092: want 1024–60000, for a cluster with a Host of its own"},
		{opts: Options{Host: "10.213.0.2", BasePort: 80}, want: "kafkatest: BasePort 80: want 1024–60000, for a cluster with a Host of its own"},
	} {
		_, err := New(tc.opts)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("New(Host %q): error %q, want %q", tc.opts.Host, got, tc.want)
		}
	}
	if h := (Options{}).withDefaults().Host; h != "127.0.0.1" {
		t.Errorf("default Host %q, want 127.0.0.1", h)
	}
}
