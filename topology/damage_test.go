package topology

import (
	"strings"
	"testing"
)

func TestOnlyPrefixed(t *testing.T) {
	regions := []string{"us-east.", "eu-west."}
	for _, c := range []struct {
		pattern  string
		prefixes []string
		want     string
	}{
		{"__.*", internalPrefixes, "__"},
		{"__consumer_offsets", internalPrefixes, "__"},
		{`geomesh\..*`, internalPrefixes, "geomesh."},
		{"geomesh.progress", internalPrefixes, "geomesh."}, // '.' read as a dot
		{"geomesh..*", internalPrefixes, "geomesh."},
		{"[_][_].*", internalPrefixes, "__"},
		{"^__.*$", internalPrefixes, "__"},
		{"(__)+x", internalPrefixes, "__"},
		{`__consumer_offsets|geomesh\.progress`, internalPrefixes, "geomesh."},
		{`(?:__|geomesh\.)(a|b)`, internalPrefixes, "geomesh."},
		{`__x{2,}`, internalPrefixes, "__"},
		{"geomesh.*", internalPrefixes, ""}, // "geomesh" and "geomesh-x" too
		{".*", internalPrefixes, ""},
		{"orders", internalPrefixes, ""},
		{"_.*", internalPrefixes, ""},
		{"(__)*x", internalPrefixes, ""},
		{"__?x", internalPrefixes, ""},
		{"a|__x", internalPrefixes, ""},
		{"(?i)geomesh\\..*", internalPrefixes, ""},
		{"(?i)__", internalPrefixes, "__"}, // '_' has one case
		{"[_-]_.*", internalPrefixes, ""},
		{`us-east\..*`, regions, "us-east."},
		{`(us-east|eu-west)\.orders`, regions, "eu-west."},
		{"us-east.*", regions, ""},
		{"us-easts.*", regions, ""},
		{"(", internalPrefixes, ""},
	} {
		if got := onlyPrefixed(c.pattern, c.prefixes); got != c.want {
			t.Errorf("onlyPrefixed(%q, %q) = %q, want %q", c.pattern, c.prefixes, got, c.want)
		}
	}
}

func TestSameCluster(t *testing.T) {
	external := edit(t,
		"kafka: {bootstrap: [127.0.0.1:19092], embedded: true}", "kafka: {bootstrap: [kafka-1.example.com:9092, kafka-2.example.com:9092]}",
		"kafka: {bootstrap: [127.0.0.1:19093], embedded: true}", "kafka: {bootstrap: [BROKER]}")
	for _, same := range []string{"kafka-2.example.com:9092", "KAFKA-2.example.COM:9092", `" kafka-1.example.com:9092 "`, "kafka-1.example.com.:9092"} {
		wantProblem(t, strings.Replace(external, "BROKER", same, 1), "regions us-east and eu-west name the same kafka cluster")
	}
	for _, other := range []string{"kafka-3.example.com:9092", "kafka-1.example.com:9093"} {
		wantValid(t, strings.Replace(external, "BROKER", other, 1))
	}
	// One broker twice in a region's own list is one cluster, as meant.
	wantValid(t, strings.Replace(external, "BROKER", "kafka-3.example.com:9092, KAFKA-3.example.com:9092", 1))
	// Two embedded clusters on one address: one message, not two.
	got := problems(t, edit(t, "bootstrap: [127.0.0.1:19093]", "bootstrap: [127.0.0.1:19092]"))
	if len(got) != 1 || !strings.Contains(got[0], "the same kafka cluster") {
		t.Errorf("got %q, want one message naming the same cluster", got)
	}
}

func TestDeadLetterTopic(t *testing.T) {
	dlq := func(topic string) string {
		return "replication: {on_error: dead-letter, dead_letter_topic: " + topic + "}\n"
	}
	aa := edit(t, "kind: active-passive\n  primary: us-east\n  standby: [eu-west]", "kind: active-active")
	for _, c := range []struct {
		name, file, want string
	}{
		{"geomesh's", base + "topics: {include: [orders]}\n" + dlq("geomesh.progress"), "is a topic geomesh writes itself"},
		{"geomesh's heartbeats", base + "topics: {include: [orders]}\n" + dlq("geomesh.heartbeats"), "is a topic geomesh writes itself"},
		{"kafka's", base + "topics: {include: [orders]}\n" + dlq("__transaction_state"), "Kafka's internal topics"},
		{"identity: copied into the standby's", base + dlq("dlq"), "the flow us-east → eu-west copies us-east's topic \"dlq\" into it on eu-west"},
		{"identity, by a pattern", base + "topics: {include: ['d.*']}\n" + dlq("dlq"), "copies us-east's topic \"dlq\" into it"},
		{"prefix: copied out", aa + dlq("dlq"), "the flow us-east → eu-west copies them out of it"},
		{"prefix: copies written into it", aa + "topics: {include: [orders]}\n" + dlq("eu-west.orders"), "the flow eu-west → us-east copies eu-west's topic \"orders\" into it on us-east"},
		{"flow override", base + "topics: {include: [orders]}\nflows: [{source: us-east, target: eu-west, topics: {include: [dlq]}}]\n" + dlq("dlq"), "copies us-east's topic \"dlq\""},
	} {
		t.Run(c.name, func(t *testing.T) { wantProblem(t, c.file, c.want) })
	}
	for _, c := range []struct{ name, file string }{
		{"geomesh.*, never copied", base + dlq("geomesh.dead-letter")},
		{"not selected", base + "topics: {include: [orders]}\n" + dlq("dlq")},
		{"excluded", base + "topics: {exclude: [dlq]}\n" + dlq("dlq")},
		{"prefix: another region's prefix is never copied", aa + dlq("eu-west.dlq") + "topics: {include: [orders]}\n"},
		{"prefix: only the primary is a source", aa + "topics: {include: [orders]}\n" + dlq("dlq")},
		{"no dead letters", base + "replication: {on_error: pause, dead_letter_topic: dlq}\ntopics: {include: [orders]}\n"},
	} {
		t.Run(c.name, func(t *testing.T) { wantValid(t, c.file) })
	}
}

func TestDeadPatterns(t *testing.T) {
	aa := edit(t, "kind: active-passive\n  primary: us-east\n  standby: [eu-west]", "kind: active-active")
	for _, c := range []struct {
		name, file, want string
	}{
		{"kafka's", base + "topics: {include: ['__.*']}\n", "can only select Kafka's internal topics"},
		{"geomesh's", base + "topics: {include: ['geomesh\\..*']}\n", "or geomesh's own (geomesh.…)"},
		{"in a flow override", base + "flows: [{source: us-east, target: eu-west, topics: {include: ['__consumer_offsets']}}]\n", "can only select Kafka's internal topics"},
		{"prefix naming: any region's prefix", aa + "topics: {include: [orders, 'us-east\\..*']}\n", `can only select topics named us-east.…, which geomesh takes for copies from region us-east`},
		{"identity naming: the only target's prefix", base + "topics: {include: [orders, 'eu-west\\..*']}\n", "copies from region eu-west"},
		{"region named like the topics", edit(t, "name: eu-west", "name: orders", "standby: [eu-west]", "standby: [orders]") + "naming: prefix\ntopics: {include: [orders.created]}\n", "copies from region orders"},
	} {
		t.Run(c.name, func(t *testing.T) { wantProblem(t, c.file, c.want) })
	}
	for _, c := range []struct{ name, file string }{
		{"defaults", base},
		{"a pattern that also selects other topics", base + "topics: {include: ['(__|orders).*']}\n"},
		{"geomesh without a dot", base + "topics: {include: ['geomesh.*']}\n"},
		{"identity naming: the source's prefix is copied", base + "topics: {include: ['us-east\\..*']}\n"},
		{"identity active-active: copied into the other region", aa + "naming: identity\ntopics: {include: ['eu-west\\..*']}\n"},
		{"an override's inherited include is judged at the mesh's", base + "topics: {include: [orders]}\nflows: [{source: us-east, target: eu-west, topics: {exclude: [x]}}]\n"},
	} {
		t.Run(c.name, func(t *testing.T) { wantValid(t, c.file) })
	}
}
