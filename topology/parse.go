package topology

import (
	"bytes"
	"io"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Parse validates the topology in data; filename only labels the errors.
//
// Data larger than [MaxFileSize] is refused unread.
func Parse(filename string, data []byte, opts ...Option) (*Mesh, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: filename, Msg: tooLarge(int64(len(data)))}}
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	d := newDecoder(filename)
	root := d.parseYAML(data)
	if root == nil {
		return nil, d.errs.sorted()
	}
	var doc document
	d.decode(root, reflect.ValueOf(&doc).Elem(), "", "")
	applyDefaults(&doc)
	m := &Mesh{
		Name:         doc.Mesh,
		Kind:         doc.Topology.Kind,
		Roles:        doc.Topology.Roles,
		Regions:      doc.Regions,
		Topics:       doc.Topics,
		Groups:       doc.Groups,
		Naming:       doc.Naming,
		Replication:  doc.Replication,
		Failover:     doc.Failover,
		ControlPlane: *doc.ControlPlane,
		Flows:        doc.Flows,
		API:          doc.API,
		Gossip:       doc.Gossip,

		AllowInsecure: doc.AllowInsecure,
	}
	validate(d, m, o)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return m, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the root mapping's node, or nil after reporting why
// there is none.
func (d *decoder) parseYAML(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			d.errorf(pos{1, 1}, "file is empty; a topology needs at least mesh, topology and regions")
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errorf(nodePos(&next), "a topology file holds one YAML document; remove this second one")
		return nil
	case err != io.EOF:
		d.syntaxError(err)
		return nil
	}
	if len(root.Content) == 0 {
		d.errorf(pos{1, 1}, "file is empty; a topology needs at least mesh, topology and regions")
		return nil
	}
	return root.Content[0]
}

// syntaxError keeps yaml.v3's line; it gives no column.
func (d *decoder) syntaxError(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errorf(pos{line, 0}, "invalid yaml: %s", m[2])
		return
	}
	d.errorf(pos{1, 0}, "invalid yaml: %s", err)
}
