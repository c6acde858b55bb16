// Package apiserve serves an agent's HTTP API safely: bearer tokens
// checked on the headers before anything else is read, by what a request
// needs (open, read, admin) from its method and path alone; TLS with a
// certificate re-read when its files change; and a server whose limits
// (timeouts, sizes, connections without a valid token) keep a flood of
// slow or idle clients from holding it open or starving /healthz. The
// endpoints themselves are the agent's.
//
// With tokens configured, every request but /healthz and /readyz needs
// one: GETs the read or the admin token, anything else (and
// ?apply=true) the admin token; a missing or wrong one gets 401 and a
// short JSON error. The token is checked on the request line and
// headers, before any body is read; a refusal closes the connection
// without reading the body the request announced. A client holds a
// connection only as long as [DefaultLimits] allow: 5s for the headers,
// 10s for the whole request (an admitted body at most 64 KiB), 45s from
// the headers to the end of the answer (the agent's translate waits up
// to 30s, a command 10s), 30s idle between requests. At most 256
// connections that have shown no valid token (every connection, without
// tokens) are open at once: a new one beyond that closes the oldest
// waiting for a request, counted in geomesh_api_connections_shed_total,
// so a flood of idle or trickling connections cannot use up the open
// files the control plane's store and the Kafka clients need, nor keep
// /healthz from answering.
package apiserve
