// Package configs carries the example topologies inside the binary so that
// `geomesh demo` runs on a machine that has nothing but the binary.
package configs

import "embed"

// Examples holds configs/examples/*.yaml.
//
//go:embed examples/*.yaml
var Examples embed.FS
