package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/geomesh/geomesh/internal/poll"
)

// TestNewTopicAndConfigWithin5s creates a topic on the source while the
// agent runs, then changes its config and partition count: each reaches
// the target within 5 s (MirrorMaker 2 polls every 600 s), and the records
// written to the new topic are copied.
func TestNewTopicAndConfigWithin5s(t *testing.T) {
	t.Parallel()
	path := meshFile(t, "e2e-shape", []region{{"shape-src", clusters[2], 1}, {"shape-tgt", clusters[3], 1}}, `
topology: {kind: active-passive, primary: shape-src, standby: [shape-tgt]}
topics: {include: ["shape-.*"]}
`)
	src, tgt := clusters[2], clusters[3]
	startAgents(t, path, "shape-tgt")
	srcAdm, tgtAdm := kadm.NewClient(client(t, src)), kadm.NewClient(client(t, tgt))

	createTopic(t, src, "shape-new", 2, map[string]*string{"retention.ms": kadm.StringPtr("7200000")})
	begin := time.Now()
	poll.Until(t, 5*time.Second, func() error {
		return topicShape(t, tgtAdm, "shape-new", 2, "retention.ms", "7200000")
	})
	t.Logf("new topic on the target with its config after %v", time.Since(begin).Round(time.Millisecond))
	produce(t, src, "shape-src", "shape-new", 0, 100)
	srcRecs := readTopic(t, src, "shape-new", 100, 10*time.Second)
	checkCopies(t, "shape-src", srcRecs, readTopic(t, tgt, "shape-new", 100, 10*time.Second), "")

	begin = time.Now()
	if _, err := srcAdm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, "shape-new"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, func() error {
		return topicShape(t, tgtAdm, "shape-new", 2, "retention.ms", "3600000")
	})
	t.Logf("config change on the target after %v", time.Since(begin).Round(time.Millisecond))

	begin = time.Now()
	if _, err := srcAdm.UpdatePartitions(t.Context(), 4, "shape-new"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, func() error {
		return topicShape(t, tgtAdm, "shape-new", 4, "retention.ms", "3600000")
	})
	t.Logf("new partitions on the target after %v", time.Since(begin).Round(time.Millisecond))
	produce(t, src, "shape-src", "shape-new", 100, 100)
	srcRecs = readTopic(t, src, "shape-new", 200, 10*time.Second)
	checkCopies(t, "shape-src", srcRecs, readTopic(t, tgt, "shape-new", 200, 15*time.Second), "")
}

// topicShape checks a target topic's partition count and one config.
func topicShape(t testing.TB, adm *kadm.Client, topic string, partitions int, key, value string) error {
	td, err := adm.ListTopics(t.Context(), topic)
	if err != nil {
		return err
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return fmt.Errorf("topic %s missing on the target", topic)
	}
	if len(d.Partitions) != partitions {
		return fmt.Errorf("topic %s has %d partitions, want %d", topic, len(d.Partitions), partitions)
	}
	rcs, err := adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		return err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return err
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			if c.MaybeValue() != value {
				return fmt.Errorf("%s=%s on the target, want %s", key, c.MaybeValue(), value)
			}
			return nil
		}
	}
	return fmt.Errorf("%s not set on the target", key)
}
