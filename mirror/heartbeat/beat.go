package heartbeat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Topic is the heartbeat topic in every region's cluster.
const Topic = "geomesh.heartbeats"

const version1 = 1

// maxName bounds region and agent names in a decoded beat, so that a
// corrupt length cannot make Decode allocate much.
const maxName = 1024

// Beat is one heartbeat.
type Beat struct {
	Region string    // region whose agent wrote the beat
	Agent  string    // id of the agent that wrote it
	Time   time.Time // when it was written, by the writer's clock
	Seq    uint64    // 1 for the writer's first beat, +1 for each next one
}

// Encode returns the binary form of b (see the package doc).
func Encode(b Beat) []byte {
	buf := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(b.Region)+len(b.Agent)+2*binary.MaxVarintLen64)
	buf = append(buf, version1)
	buf = binary.AppendUvarint(buf, uint64(len(b.Region)))
	buf = append(buf, b.Region...)
	buf = binary.AppendUvarint(buf, uint64(len(b.Agent)))
	buf = append(buf, b.Agent...)
	buf = binary.AppendVarint(buf, b.Time.UnixNano())
	buf = binary.AppendUvarint(buf, b.Seq)
	return buf
}

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("malformed heartbeat")

// Decode parses a value written by Encode.
func Decode(value []byte) (Beat, error) {
	if len(value) == 0 {
		return Beat{}, fmt.Errorf("%w: empty value", ErrMalformed)
	}
	if value[0] != version1 {
		return Beat{}, fmt.Errorf("%w: version %d, this reader knows %d", ErrMalformed, value[0], version1)
	}
	d := decoder{buf: value[1:]}
	var b Beat
	b.Region = d.str("region")
	b.Agent = d.str("agent")
	nanos := d.varint("timestamp")
	b.Seq = d.uvarint("sequence")
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf))
	}
	if d.err != nil {
		return Beat{}, d.err
	}
	if b.Region == "" {
		return Beat{}, fmt.Errorf("%w: empty region", ErrMalformed)
	}
	b.Time = time.Unix(0, nanos)
	return b, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated %s", ErrMalformed, field)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated %s", ErrMalformed, field)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) str(field string) string {
	n := d.uvarint(field + " length")
	if d.err != nil {
		return ""
	}
	if n > maxName || n > uint64(len(d.buf)) {
		d.err = fmt.Errorf("%w: %s length %d exceeds the %d bytes left", ErrMalformed, field, n, len(d.buf))
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

// Latency is the end-to-end replication latency of a beat that arrived
// at now: now minus the beat's timestamp. It includes clock skew between
// the writer's and reader's machines.
func Latency(b Beat, now time.Time) time.Duration {
	return now.Sub(b.Time)
}
