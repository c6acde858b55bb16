package topology

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
	// What the file does not write is placed at its first line of YAML,
	// not at 1:1, which may be a comment.
	d.places[""] = place{nodePos(root), nodePos(root)}
	var doc document
	if !d.decodeFile(root, &doc) {
		return nil, d.errs.sorted()
	}
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
