// Package acls keeps the ACLs of a flow's target cluster in step with
// those of its source, so that an application moved to another region
// after a failover finds the permissions it had.
//
// A [Syncer] runs per flow in the agent of the flow's target region. Each
// pass (every [Config.Interval], 1 s by default; MirrorMaker 2 syncs
// literal topic ACLs only, every 600 s):
//
//  1. reads the source's topic and consumer-group ACLs, literal and
//     prefixed (DescribeACLs);
//  2. maps each one to the target ([Desired]): the topic name or prefix
//     through the flow's naming (identity, or "<source>." under prefix
//     naming), skipped if the flow does not select it; the group kept as
//     it is, skipped if the flow's group selection does not pick it; the
//     principal through the regions' kafka.principals maps;
//  3. creates the mapped ACLs the target lacks (CreateACLs) and deletes
//     the ones it created earlier whose source ACL is gone (DeleteACLs).
//
// # WRITE only where the region is primary
//
// A copy of a topic must not take writes from applications unless the
// target region is primary for it: a write to a standby would be lost
// or, worse, collide with the copies. While the target is not primary
// ([Config.Writable] false, [Syncer.SetWritable]) an ALLOW ACL on a
// topic is copied only for READ, DESCRIBE and DESCRIBE_CONFIGS (ALL
// becomes those three); DENY ACLs are always copied, since they only
// take rights away. When the target becomes primary, the failover wiring
// calls SetWritable(true) and the next pass grants the rest; when it is
// demoted, SetWritable(false) and the next pass deletes the WRITE ACLs
// geomesh granted. Active-passive starts with every standby not
// writable; active-active with identity names starts writable (every
// region writes the same topics); copies under prefix naming are never
// written by applications, so those flows start not writable.
//
// # Fencing application writes
//
// Withholding WRITE on copies is not enough: the application's WRITE ACL
// in the region that was primary first was made by the operator, not by
// geomesh, and geomesh never deletes an operator's ACL. So a [Fencer]
// runs in the agent of every data region of an active-passive mesh and
// overrides those ALLOWs instead, with Kafka's rule that a DENY beats any
// ALLOW. While its region is not the primary (standby, demoted, or a
// primary that fenced itself) the Fencer keeps, for every ALLOW of WRITE
// or ALL on a mirrored topic in the region's cluster, literal or
// prefixed, a DENY WRITE for the same principal, pattern and host. While
// it is the primary it deletes those DENYs again. A pass runs at once
// when the side changes and every second after, so an ALLOW granted
// later in a demoted region is overridden too; the decision is
// [PlanFence], a pure function of the cluster's ACLs.
//
// Not denied: the agent's own principal (it writes the copies and
// geomesh's topics), a wildcard principal (User:*, which would deny the
// agent too) and wildcard topics ("*", which reach topics the mesh does
// not manage); an application that writes only through such ACLs is not
// fenced. Until the agent has read the mesh state it changes nothing, so
// a restarted agent keeps the DENYs its region held.
//
// A self-fenced primary (control plane unreachable for longer than the
// fence delay, see failover/machine) denies writes too: its majority may
// be promoting another region by now, and every record it took would be
// stranded. The cost is that a primary cut off from the control plane
// alone, with a healthy cluster, stops taking writes until it reaches the
// majority again; that is the fence's purpose.
//
// Each DENY geomesh makes is recorded beside it in the cluster, by a
// marker: a DENY DESCRIBE for the same principal and host on the literal
// topic "geomesh-fence:<mesh>:<PATTERN>:<name>", a name no topic can have
// (the colon). The marker is created before its DENY and deleted after
// it, so that every agent of the region, restarted or not, knows which
// DENYs are its mesh's; a DENY without the mesh's marker is an
// operator's (or another mesh's) and is never deleted, even if it equals
// one the fence would make. A marked DENY whose ALLOW is gone, or whose
// topic the mesh no longer selects, is deleted. ACL sync does not
// copy a region's fence DENYs or markers to other regions. A write
// refused by the fence fails with TOPIC_AUTHORIZATION_FAILED.
//
// Every pass ends by reading the ACLs back, and what they say the cluster
// does with the writes the fence governs is the fence's [Writes]:
// refused once every ALLOW it overrides has its DENY, accepted once none
// of the mesh's DENYs is held (or the cluster has no authorizer), and
// unchanged while a pass could not finish its side's work.
// [FenceStatus] shows it with the time it was confirmed, and each change
// is one "write fence" log line (cluster, writes, denies, requested, at),
// with the time the pass sent its first change (the earliest the cluster
// may have acted so) and the time it was confirmed: the agents' record
// of which cluster accepted writes when. A Fencer may run for another
// region's cluster than its agent's (the write gate of package agent).
//
// # Only its own ACLs
//
// The Syncer deletes only ACLs it created itself, remembered in memory: a
// target ACL that an operator made, or that existed before geomesh, is
// never deleted, even when it matches no source ACL. After a restart the
// Syncer owns nothing until it creates again, so a source ACL deleted
// while no agent ran leaves its copy behind (reported nowhere); that is
// the safe direction. Wildcard ACLs (resource name "*") are not copied:
// on the target they would reach topics the mesh does not manage.
//
// # Errors
//
// A pass that is refused names the principal, the operation and the
// resource that is missing ([broker.Denied]), for example
//
//	region east: User:geomesh may not ALTER the CLUSTER (to create ACLs) ...
//
// in [Status] and [FenceStatus]; the agent counts failed fence passes in
// geomesh_acl_fence_errors_total. A cluster without an authorizer
// (SECURITY_DISABLED, [ErrNoAuthorizer]) is reported once in the status
// and the pass does nothing else: such a cluster cannot deny a write.
package acls
