package topics

import (
	"reflect"
	"testing"
)

func TestExcluded(t *testing.T) {
	ex := newExclusions([]string{"retention.bytes", "x.custom.*"})
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"follower.replication.throttled.replicas", true},
		{"leader.replication.throttled.replicas", true},
		{"message.timestamp.type", true},
		{"message.timestamp.difference.max.ms", true},
		{"message.timestamp.before.max.ms", true},
		{"message.timestamp.after.max.ms", true},
		{"min.insync.replicas", true},
		{"unclean.leader.election.enable", true},
		{"confluent.placement.constraints", true},
		{"confluent.tier.enable", true},
		{"remote.storage.enable", true},
		{"remote.log.copy.disable", true},
		{"local.retention.ms", true},
		{"message.format.version", true},
		{"message.downconversion.enable", true},
		{"retention.bytes", true}, // configured extra
		{"x.custom.a", true},      // configured extra prefix
		{"retention.ms", false},
		{"cleanup.policy", false},
		{"segment.bytes", false}, // copied on purpose, see doc.go
		{"segment.ms", false},
		{"max.message.bytes", false},
		{"compression.type", false},
		{"confluent", false}, // prefix needs the dot
	} {
		if got := ex.excluded(tc.key); got != tc.want {
			t.Errorf("excluded(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestTargetMinISR(t *testing.T) {
	for _, tc := range []struct {
		src    string
		rf     int
		want   string
		wantOK bool
	}{
		{"2", 3, "2", true}, // target as big as source: keep durability
		{"2", 1, "1", true}, // smaller target: still accepts acks=all
		{"3", 2, "2", true},
		{"1", 3, "1", true},
		{"0", 3, "1", true}, // never below 1
		{"", 3, "", false},  // unknown: leave the target alone
		{"x", 3, "", false},
	} {
		got, ok := targetMinISR(tc.src, tc.rf)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("targetMinISR(%q, %d) = %q, %v; want %q, %v", tc.src, tc.rf, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestReplicationFactor(t *testing.T) {
	for _, tc := range []struct {
		configured        int16
		sourceRF, brokers int
		want              int16
	}{
		{0, 3, 1, 1},
		{0, 3, 5, 3},
		{0, 2, 3, 2},
		{0, 0, 0, 1}, // unknown shape still yields a valid RF
		{2, 3, 1, 2}, // configured wins, even if creation will fail
	} {
		if got := replicationFactor(tc.configured, tc.sourceRF, tc.brokers); got != tc.want {
			t.Errorf("replicationFactor(%d, %d, %d) = %d, want %d", tc.configured, tc.sourceRF, tc.brokers, got, tc.want)
		}
	}
}

func TestDiffConfigs(t *testing.T) {
	ex := newExclusions(nil)
	p := ptr
	for _, tc := range []struct {
		name            string
		src, tgt        map[string]string
		copied          map[string]bool
		tgtISR, wantISR string
		want            []ConfigChange
	}{
		{
			name:   "in line",
			src:    map[string]string{"retention.ms": "1000"},
			tgt:    map[string]string{"retention.ms": "1000", "min.insync.replicas": "1"},
			tgtISR: "1", wantISR: "1",
		},
		{
			name:   "set, change, delete",
			src:    map[string]string{"retention.ms": "2000", "cleanup.policy": "compact"},
			tgt:    map[string]string{"retention.ms": "1000", "segment.ms": "5"},
			copied: map[string]bool{"segment.ms": true},
			tgtISR: "1", wantISR: "1",
			want: []ConfigChange{
				{Topic: "t", Key: "cleanup.policy", New: p("compact")},
				{Topic: "t", Key: "retention.ms", Old: p("1000"), New: p("2000")},
				{Topic: "t", Key: "segment.ms", Old: p("5")},
			},
		},
		{
			name:   "excluded keys neither copied nor deleted",
			src:    map[string]string{"message.timestamp.type": "LogAppendTime", "leader.replication.throttled.replicas": "*"},
			tgt:    map[string]string{"unclean.leader.election.enable": "true"},
			tgtISR: "1", wantISR: "1",
		},
		{
			name:   "min isr follows source within target rf",
			src:    map[string]string{},
			tgt:    map[string]string{},
			tgtISR: "2", wantISR: "1",
			want: []ConfigChange{{Topic: "t", Key: "min.insync.replicas", Old: p("2"), New: p("1")}},
		},
		{
			name:   "a key set only on the target is the operator's",
			src:    map[string]string{},
			tgt:    map[string]string{"retention.ms": "5", "max.message.bytes": "2000000"},
			tgtISR: "1", wantISR: "1",
		},
		{
			name:   "max.message.bytes gets headroom for provenance headers",
			src:    map[string]string{"max.message.bytes": "100000"},
			tgt:    map[string]string{},
			tgtISR: "1", wantISR: "1",
			want: []ConfigChange{{Topic: "t", Key: "max.message.bytes", New: p("101024")}},
		},
		{
			name:   "a raised target max.message.bytes is not lowered",
			src:    map[string]string{"max.message.bytes": "100000"},
			tgt:    map[string]string{"max.message.bytes": "5000000"},
			copied: map[string]bool{"max.message.bytes": true},
			tgtISR: "1", wantISR: "1",
		},
		{
			name:   "unknown source min isr leaves target",
			tgtISR: "2", wantISR: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diffConfigs("t", tc.src, tc.tgt, tc.copied, tc.tgtISR, tc.wantISR, ex)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %s, want %s", fmtChanges(got), fmtChanges(tc.want))
			}
		})
	}
}

func fmtChanges(cs []ConfigChange) string {
	s := "["
	for _, c := range cs {
		s += c.Key + ":" + val(c.Old) + "->" + val(c.New) + " "
	}
	return s + "]"
}

func TestConfigValidate(t *testing.T) {
	err := Config{ReplicationFactor: -1, DeletePolicy: "sometimes"}.withDefaults().validate()
	want := `topic sync source -> target: flow is required; source client is required; target client is required; replication factor -1 is negative; delete policy "sometimes" is not "off" or "follow"`
	if err == nil || err.Error() != want {
		t.Fatalf("validate() = %v\nwant %s", err, want)
	}
}
