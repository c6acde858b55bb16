package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Produce is a record a producer sent.
type Produce struct {
	Time      time.Time `json:"time"`
	Region    string    `json:"region"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	// Offset is where the broker put the record; meaningful only when
	// Acked.
	Offset int64  `json:"offset"`
	ID     string `json:"id"`
	// Acked is whether the broker acknowledged the record (for a
	// transactional record: whether its transaction committed).
	Acked bool `json:"acked"`
}

// Consume is a record a consumer read.
type Consume struct {
	Time          time.Time `json:"time"`
	Region        string    `json:"region"`
	Topic         string    `json:"topic"`
	Partition     int32     `json:"partition"`
	Offset        int64     `json:"offset"`
	ID            string    `json:"id"`
	ReadCommitted bool      `json:"read_committed"`
}

// Abort names a record written in a transaction that was aborted.
type Abort struct {
	Time   time.Time `json:"time"`
	Region string    `json:"region"`
	ID     string    `json:"id"`
}

// Unresolved names a record written in a transaction whose end failed:
// EndTransaction returned an error, so the producer does not know
// whether it committed. Only the source's committed log can tell.
type Unresolved struct {
	Time   time.Time `json:"time"`
	Region string    `json:"region"`
	ID     string    `json:"id"`
}

// Roles an Epoch event can record. Only RolePrimary matters to the
// checker; any other role ends a region's time as primary.
const (
	RolePrimary = "primary"
	RoleStandby = "standby"
	RoleFenced  = "fenced"
)

// Epoch records that Observer saw Region hold Role at mesh epoch Epoch.
type Epoch struct {
	Time     time.Time `json:"time"`
	Epoch    uint64    `json:"epoch"`
	Region   string    `json:"region"`
	Role     string    `json:"role"`
	Observer string    `json:"observer"`
}

// Stranded names a record that geomesh reported stranded in Region.
type Stranded struct {
	Time   time.Time `json:"time"`
	Region string    `json:"region"`
	ID     string    `json:"id"`
}

// Log is the ground truth of one partition at the end of a run: every
// committed record it held, read with read_committed from Start to End
// once no transaction was open.
type Log struct {
	Time      time.Time `json:"time"`
	Region    string    `json:"region"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	// Start is the log start offset, End the end offset read to (the last
	// stable offset, equal to the high watermark). Offsets in between
	// that no record holds were transaction markers or aborted records.
	Start   int64       `json:"start"`
	End     int64       `json:"end"`
	Records []LogRecord `json:"records"`
}

// LogRecord is one committed record of a Log.
type LogRecord struct {
	Offset int64  `json:"offset"`
	ID     string `json:"id"`
	// Origin is the region the record's provenance names, where it was
	// first written, if it is a copy; empty for a record written in the
	// log's own region.
	Origin string `json:"origin,omitempty"`
}

// History is everything one run recorded. The order of events within a
// slice does not matter to the checker; times and offsets do.
type History struct {
	Produces   []Produce
	Consumes   []Consume
	Aborts     []Abort
	Unresolved []Unresolved
	Epochs     []Epoch
	Stranded   []Stranded
	Logs       []Log
	// Fences are the changes of the clusters' write fences (writers.go).
	Fences []WriteFence
}

// Recorder collects a History from concurrent goroutines. The zero value
// is ready to use.
type Recorder struct {
	mu sync.Mutex
	h  History
}

// Produced records a sent record.
func (r *Recorder) Produced(p Produce) {
	r.mu.Lock()
	r.h.Produces = append(r.h.Produces, p)
	r.mu.Unlock()
}

// Consumed records a read record.
func (r *Recorder) Consumed(c Consume) {
	r.mu.Lock()
	r.h.Consumes = append(r.h.Consumes, c)
	r.mu.Unlock()
}

// Aborted records an aborted record.
func (r *Recorder) Aborted(a Abort) { r.mu.Lock(); r.h.Aborts = append(r.h.Aborts, a); r.mu.Unlock() }

// UnresolvedSeen records a record whose transaction's end failed.
func (r *Recorder) UnresolvedSeen(u Unresolved) {
	r.mu.Lock()
	r.h.Unresolved = append(r.h.Unresolved, u)
	r.mu.Unlock()
}

// Logged records the final contents of a partition.
func (r *Recorder) Logged(l Log) { r.mu.Lock(); r.h.Logs = append(r.h.Logs, l); r.mu.Unlock() }

// EpochSeen records an observed role.
func (r *Recorder) EpochSeen(e Epoch) { r.mu.Lock(); r.h.Epochs = append(r.h.Epochs, e); r.mu.Unlock() }

// StrandedReported records a stranded record.
func (r *Recorder) StrandedReported(s Stranded) {
	r.mu.Lock()
	r.h.Stranded = append(r.h.Stranded, s)
	r.mu.Unlock()
}

// History returns a copy of what has been recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{
		Produces:   slices.Clone(r.h.Produces),
		Consumes:   slices.Clone(r.h.Consumes),
		Aborts:     slices.Clone(r.h.Aborts),
		Unresolved: slices.Clone(r.h.Unresolved),
		Epochs:     slices.Clone(r.h.Epochs),
		Stranded:   slices.Clone(r.h.Stranded),
		Logs:       slices.Clone(r.h.Logs),
		Fences:     slices.Clone(r.h.Fences),
	}
}

// Kinds of line in the JSON lines form.
const (
	kindProduce    = "produce"
	kindConsume    = "consume"
	kindAbort      = "abort"
	kindUnresolved = "unresolved"
	kindEpoch      = "epoch"
	kindStranded   = "stranded"
	kindLog        = "log"
	kindFence      = "fence"
)

// WriteJSONL writes h as JSON lines: produces, consumes, aborts,
// unresolved records, epochs, stranded records, logs (one line per
// partition, its records inline), then write fences, each line an object
// with a "kind"
// field and the event's fields.
func WriteJSONL(w io.Writer, h History) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	write := func(kind string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		// The kind goes first so a person reading the file sees it first.
		line := append([]byte(`{"kind":"`+kind+`",`), b[1:]...)
		return enc.Encode(json.RawMessage(line))
	}
	var err error
	for _, p := range h.Produces {
		err = errors.Join(err, write(kindProduce, p))
	}
	for _, c := range h.Consumes {
		err = errors.Join(err, write(kindConsume, c))
	}
	for _, a := range h.Aborts {
		err = errors.Join(err, write(kindAbort, a))
	}
	for _, u := range h.Unresolved {
		err = errors.Join(err, write(kindUnresolved, u))
	}
	for _, e := range h.Epochs {
		err = errors.Join(err, write(kindEpoch, e))
	}
	for _, s := range h.Stranded {
		err = errors.Join(err, write(kindStranded, s))
	}
	for _, l := range h.Logs {
		err = errors.Join(err, write(kindLog, l))
	}
	for _, f := range h.Fences {
		err = errors.Join(err, write(kindFence, f))
	}
	if err != nil {
		return fmt.Errorf("history: write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("history: write: %w", err)
	}
	return nil
}

// ReadJSONL reads a history written by WriteJSONL. Blank lines are
// skipped; a line that does not parse, has an unknown kind or an unknown
// field is an error naming its line number, and all such lines are
// reported at once.
func ReadJSONL(r io.Reader) (History, error) {
	var h History
	var errs []error
	sc := bufio.NewScanner(r)
	// A log line holds a whole partition.
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := readLine(&h, line); err != nil {
			errs = append(errs, fmt.Errorf("history: line %d: %w", n, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("history: read: %w", err))
	}
	return h, errors.Join(errs...)
}

func readLine(h *History, line []byte) error {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return err
	}
	switch head.Kind {
	case kindProduce:
		return decodeInto(line, &h.Produces)
	case kindConsume:
		return decodeInto(line, &h.Consumes)
	case kindAbort:
		return decodeInto(line, &h.Aborts)
	case kindUnresolved:
		return decodeInto(line, &h.Unresolved)
	case kindEpoch:
		return decodeInto(line, &h.Epochs)
	case kindStranded:
		return decodeInto(line, &h.Stranded)
	case kindLog:
		return decodeInto(line, &h.Logs)
	case kindFence:
		return decodeInto(line, &h.Fences)
	case "":
		return errors.New(`no "kind" field`)
	default:
		return fmt.Errorf("unknown kind %q", head.Kind)
	}
}

// decodeInto decodes one event strictly and appends it to dst.
func decodeInto[T any](line []byte, dst *[]T) error {
	// The event types have no "kind" field, so it goes before the strict
	// decode that rejects unknown fields.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return err
	}
	delete(fields, "kind")
	rest, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}
