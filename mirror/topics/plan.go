package topics

import (
	"sort"
	"strconv"
	"strings"
)

// This file holds the pure decisions of a pass: which configs to copy and
// what to change on the target. No I/O, so each rule is table-tested.

// exclusions matches config keys that are never copied.
type exclusions struct {
	exact    map[string]bool
	prefixes []string
}

func newExclusions(extra []string) exclusions {
	ex := exclusions{exact: make(map[string]bool)}
	for _, e := range append(append([]string(nil), DefaultExclusions...), extra...) {
		if p, ok := strings.CutSuffix(e, "*"); ok {
			ex.prefixes = append(ex.prefixes, p)
			continue
		}
		ex.exact[e] = true
	}
	return ex
}

func (ex exclusions) excluded(key string) bool {
	if ex.exact[key] {
		return true
	}
	for _, p := range ex.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// filter returns the copyable subset of explicitly set source configs,
// with the values the target gets (see targetValue).
func (ex exclusions) filter(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		if !ex.excluded(k) {
			out[k] = targetValue(k, v)
		}
	}
	return out
}

// maxMessageBytesKey is the one limit a copy must respect with room to
// spare: see targetValue.
const maxMessageBytesKey = "max.message.bytes"

// provenanceHeadroom is what the target's max.message.bytes gets on top of
// the source's: a copy carries five provenance headers (about 150 bytes
// for usual region and topic names), so a record that just fits the source
// would otherwise be refused by the target.
const provenanceHeadroom = 1024

// targetValue is the value a copied config key gets on the target.
func targetValue(key, v string) string {
	if key != maxMessageBytesKey {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return v
	}
	return strconv.FormatInt(min(n+provenanceHeadroom, 1<<31-1), 10)
}

// keepTarget reports whether the target's own explicit value of a copied
// key wins over the source's: a max.message.bytes an operator raised on the
// target (to let a refused record through) is never lowered again.
func keepTarget(key, tgt, want string) bool {
	if key != maxMessageBytesKey {
		return false
	}
	t, err1 := strconv.ParseInt(tgt, 10, 64)
	w, err2 := strconv.ParseInt(want, 10, 64)
	return err1 == nil && err2 == nil && t > w
}

// targetMinISR is the min.insync.replicas a target topic with rf replicas
// gets for a source whose effective value is src (package doc: never above
// the target's RF, so acks=all writes are accepted; never below 1).
// ok is false when the source value is unknown or unparsable: then the
// target keeps whatever it has.
func targetMinISR(src string, rf int) (string, bool) {
	n, err := strconv.Atoi(src)
	if err != nil {
		return "", false
	}
	n = min(n, rf)
	n = max(n, 1)
	return strconv.Itoa(n), true
}

// ConfigChange is one config key changed on a target topic. New is nil
// when the key was deleted (it falls back to the target's default); Old
// is nil when it was not set explicitly before.
type ConfigChange struct {
	Topic    string
	Key      string
	Old, New *string
}

// diffConfigs returns the changes that make the target's explicit configs
// equal the source's copyable ones, plus min.insync.replicas. src and tgt
// hold explicitly set (dynamic topic) configs; tgtMinISR is the target's
// effective value, wantMinISR the value targetMinISR chose ("" to leave
// it). copied holds the keys this Syncer has copied onto the topic before:
// only those are deleted when the source drops them. A key set only on the
// target, and excluded keys, are the target operator's and left alone. The
// result is sorted by key.
func diffConfigs(topic string, src, tgt map[string]string, copied map[string]bool, tgtMinISR, wantMinISR string, ex exclusions) []ConfigChange {
	var out []ConfigChange
	for k, v := range ex.filter(src) {
		old, ok := tgt[k]
		if ok && (old == v || keepTarget(k, old, v)) {
			continue
		}
		c := ConfigChange{Topic: topic, Key: k, New: ptr(v)}
		if ok {
			c.Old = ptr(old)
		}
		out = append(out, c)
	}
	for k, v := range tgt {
		if ex.excluded(k) || !copied[k] {
			continue
		}
		if _, ok := src[k]; !ok {
			out = append(out, ConfigChange{Topic: topic, Key: k, Old: ptr(v)})
		}
	}
	if wantMinISR != "" && wantMinISR != tgtMinISR {
		c := ConfigChange{Topic: topic, Key: minISRKey, New: ptr(wantMinISR)}
		if tgtMinISR != "" {
			c.Old = ptr(tgtMinISR)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// createConfigs are the configs a new target topic is created with.
func createConfigs(src map[string]string, wantMinISR string, ex exclusions) map[string]*string {
	out := make(map[string]*string)
	for k, v := range ex.filter(src) {
		out[k] = ptr(v)
	}
	if wantMinISR != "" {
		out[minISRKey] = ptr(wantMinISR)
	}
	return out
}

// replicationFactor chooses the RF of a new target topic: configured if
// positive, else min(source RF, target brokers), at least 1.
func replicationFactor(configured int16, sourceRF, targetBrokers int) int16 {
	if configured > 0 {
		return configured
	}
	rf := min(sourceRF, targetBrokers)
	return int16(max(rf, 1))
}

func ptr(s string) *string { return &s }
