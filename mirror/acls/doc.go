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
// resource that is missing ([broker.Denied]); a cluster without an
// authorizer (SECURITY_DISABLED) is reported once in [Status] and the
// pass does nothing else.
package acls
