// Package api is the contract of the agents' HTTP API: the wire types
// (the mesh state and its roles, failover status, operator commands,
// translated offsets, errors) and one client of it, used by the CLI, the
// Go client library and the tests. The failover machine decides on the
// same [State] it serves, so what a client reads is what the agents
// decided, with no hand-kept copy between them.
//
// It depends on package topology only: everything that produces or
// reads these values imports api, never the other way.
package api
