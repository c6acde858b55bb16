package topology

import "strings"

// Route names a flow by its ends: records go from region Source to
// region Target.
type Route struct {
	Source, Target string
}

// Route is the flow's route.
func (f Flow) Route() Route { return Route{Source: f.Source, Target: f.Target} }

func (r Route) String() string { return r.Source + "->" + r.Target }

// CompareRoutes orders routes by source, then target.
func CompareRoutes(a, b Route) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return strings.Compare(a.Target, b.Target)
}
