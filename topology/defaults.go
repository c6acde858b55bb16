package topology

import "time"

// applyDefaults fills in what the file leaves out. It is the only place
// defaults live; validation runs after it, so a default can never be invalid
// without a test noticing.
func applyDefaults(doc *document) {
	// Replicate every topic and sync every group unless told otherwise, as
	// MirrorMaker 2 does. Only an absent include is told otherwise by
	// nothing: the decoder leaves an absent list nil and makes a written
	// one, even "include: []", non-nil, and an empty include selects
	// nothing, here as everywhere.
	if doc.Topics.Include == nil {
		doc.Topics.setInclude(".*")
	}
	if doc.Groups.Include == nil {
		doc.Groups.setInclude(".*")
	}
	// A flow override changes what it writes and keeps the rest of the
	// mesh's selection: an absent include or exclude is the mesh's.
	// Copies take about the bytes of their source: cross-region transfer
	// and the target's disk are what users pay for.
	if doc.Replication.Compression == "" {
		doc.Replication.Compression = CompressionSource
	}
	for i := range doc.Flows {
		doc.Flows[i].Topics.inherit(doc.Topics)
		if doc.Flows[i].Compression == "" {
			doc.Flows[i].Compression = doc.Replication.Compression
		}
	}
	// Where several regions write, prefixes keep same-named topics apart and
	// make loops impossible; a standby wants the primary's names unchanged so
	// clients need no change after a failover.
	if doc.Naming == "" {
		doc.Naming = NamingIdentity
		if doc.Topology.Kind == KindActiveActive || doc.Topology.Kind == KindHubSpoke {
			doc.Naming = NamingPrefix
		}
	}
	// Safety first: no loss, no duplicates, and stop rather than skip.
	if doc.Replication.Mode == "" {
		doc.Replication.Mode = ReplicationExactlyOnce
	}
	if doc.Replication.TopicDeletion == "" {
		doc.Replication.TopicDeletion = TopicDeletionOff
	}
	if doc.Replication.OnError == "" {
		doc.Replication.OnError = OnErrorPause
	}
	// Moving traffic is an operator's decision until they opt in.
	if doc.Failover.Mode == "" {
		doc.Failover.Mode = FailoverManual
	}
	if doc.Failover.Stranded == "" {
		doc.Failover.Stranded = StrandedQuarantine
	}
	// Detection timings: see Detection for how they combine. These give
	// 5.5s gossip detection for up to ten agents, well inside 10s.
	det := &doc.Failover.Detection
	if det.ProbeInterval == 0 {
		det.ProbeInterval = time.Second
	}
	if det.ProbeTimeout == 0 {
		det.ProbeTimeout = 500 * time.Millisecond
	}
	if det.SuspicionMult == 0 {
		det.SuspicionMult = 4
	}
	if det.KafkaProbeInterval == 0 {
		det.KafkaProbeInterval = 2 * time.Second
	}
	if det.DownAfter == 0 {
		det.DownAfter = 10 * time.Second
	}
	// A hook that hangs must not hold the next decision's hooks for long.
	for i := range doc.Failover.Hooks {
		if doc.Failover.Hooks[i].Timeout == 0 {
			doc.Failover.Hooks[i].Timeout = 10 * time.Second
		}
	}
	// Every region votes, witnesses included: that is what they are for.
	if len(doc.Failover.Quorum.Voters) == 0 {
		seen := make(map[string]bool, len(doc.Regions))
		for _, r := range doc.Regions {
			if r.Name == "" || seen[r.Name] {
				continue // missing or duplicate names are reported by validation
			}
			seen[r.Name] = true
			doc.Failover.Quorum.Voters = append(doc.Failover.Quorum.Voters, r.Name)
		}
	}
	// Kerberos clients read the system's krb5.conf, and Kafka's brokers are
	// kafka/<host> unless configured otherwise.
	for _, r := range doc.Regions {
		if r.Kafka == nil || r.Kafka.SASL == nil || r.Kafka.SASL.Mechanism != "GSSAPI" {
			continue
		}
		if r.Kafka.SASL.Krb5Conf == "" {
			r.Kafka.SASL.Krb5Conf = "/etc/krb5.conf"
		}
		if r.Kafka.SASL.ServiceName == "" {
			r.Kafka.SASL.ServiceName = "kafka"
		}
	}
	// An embedded NATS node per agent means no extra service to run.
	if doc.ControlPlane == nil {
		doc.ControlPlane = &ControlPlane{Embedded: true}
	}
}
