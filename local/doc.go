// Package local runs a whole geomesh mesh in one process: the embedded
// Kafka cluster of every region whose kafka section says embedded: true,
// and the first agent of every region.
//
// It is the one place outside cmd/geomesh that builds agents, and it
// serves three callers:
//
//   - `geomesh up` runs a topology file's mesh on the file's addresses
//     until interrupted;
//   - the demo (package local/demo) runs an example mesh on free ports and
//     scores what it sees;
//   - package local/meshtest runs a mesh inside a Go test, for the
//     applications' own failover tests.
//
// # Lifecycle
//
// [Start] starts the clusters, then the agents in file order; on an
// error it stops what it started. [Mesh.Close] stops the agents first,
// so that open transactions end while their clusters still answer, then
// the clusters; it is safe to call more than once.
// With [Options].Ephemeral every cluster and every agent listens on a
// free loopback port and the agents share a fresh control-plane
// directory, removed by Close, so that several local meshes run side by
// side and no old run's mesh state decides a new run's roles. Without
// it (`geomesh up`) the mesh state lives in the file's
// control_plane.state_dir, else in $XDG_STATE_HOME/geomesh/<mesh>
// (~/.local/state/geomesh/<mesh>), and survives from one run to the
// next: a failover decided in one run still holds in the next, though
// the embedded clusters, which keep their records in memory, start
// empty. [Mesh.Restart] restarts one agent, [Mesh.RestartAll] all of
// them at once; each agent locks its node's directory, so a second
// process running the same mesh from the same directory stops at start.
package local
