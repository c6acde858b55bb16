package client

import "github.com/twmb/franz-go/pkg/kgo"

// Provenance headers that the mirror engine writes on every copy. They are
// a wire contract between geomesh versions, repeated here because client
// depends on broker and topology only; a test pins them to the mirror
// package's.
const (
	HeaderOriginRegion    = "geomesh-origin-region"
	HeaderOriginTopic     = "geomesh-origin-topic"
	HeaderOriginPartition = "geomesh-origin-partition"
	HeaderOriginOffset    = "geomesh-origin-offset"
	HeaderVisited         = "geomesh-visited"
)

// HeaderRecordID is the header an application sets, to any unique bytes,
// on records it may write twice (a retry after an error or a switch of
// region). KeyedView drops a record whose id it has seen in its dedupe
// window; the RecordIDs producer option sets it.
const HeaderRecordID = "geomesh-record-id"

// header returns the value of the first header named key.
func header(hs []kgo.RecordHeader, key string) ([]byte, bool) {
	for _, h := range hs {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}
