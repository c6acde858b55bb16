package membership

import (
	"encoding/binary"
	"errors"
)

// Meta is what an agent tells its peers about itself, gossiped as
// memberlist node metadata (at most memberlist.MetaMaxSize = 512 bytes
// encoded).
type Meta struct {
	Region  string // region the agent serves
	AgentID string // agent id, unique in the region
	APIAddr string // host:port of the agent's HTTP API
}

// metaVersion is the first byte of encoded metadata. The encoding is the
// version byte, then each field as a uvarint length and its bytes, in the
// order of Meta. A decoder ignores bytes after the fields it knows, so a
// later version may append fields and still be read by this one during a
// rolling upgrade; a different version byte means an incompatible layout.
const metaVersion = 1

func encodeMeta(m Meta) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen16+len(m.Region)+len(m.AgentID)+len(m.APIAddr))
	b = append(b, metaVersion)
	for _, s := range []string{m.Region, m.AgentID, m.APIAddr} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errBadMeta = errors.New("malformed member metadata")

func decodeMeta(b []byte) (Meta, error) {
	if len(b) == 0 {
		return Meta{}, errBadMeta
	}
	if b[0] != metaVersion {
		return Meta{}, errors.New("unknown member metadata version")
	}
	b = b[1:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return Meta{}, errBadMeta
		}
		fields[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return Meta{Region: fields[0], AgentID: fields[1], APIAddr: fields[2]}, nil
}
