package terraform_test

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/topology"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The security-group check evaluates a module's HCL without OpenTofu or a
// provider: variables get the values a root module passes (or their
// defaults), locals are evaluated in dependency order with the functions
// below, and anything from AWS (data sources, resource attributes) stays
// unknown. That is enough to enumerate the ingress rules and their ports,
// which depend only on inputs.

var startsWithFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
	},
})

var hclFunctions = map[string]function.Function{
	"can":        tryfunc.CanFunc,
	"coalesce":   stdlib.CoalesceFunc,
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"distinct":   stdlib.DistinctFunc,
	"flatten":    stdlib.FlattenFunc,
	"join":       stdlib.JoinFunc,
	"keys":       stdlib.KeysFunc,
	"length":     stdlib.LengthFunc,
	"lower":      stdlib.LowerFunc,
	"merge":      stdlib.MergeFunc,
	"replace":    stdlib.ReplaceFunc,
	"setproduct": stdlib.SetProductFunc,
	"slice":      stdlib.SliceFunc,
	"sort":       stdlib.SortFunc,
	"split":      stdlib.SplitFunc,
	"startswith": startsWithFunc,
	"substr":     stdlib.SubstrFunc,
	"tolist":     stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tonumber":   stdlib.MakeToFunc(cty.Number),
	"toset":      stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":   stdlib.MakeToFunc(cty.String),
	"trimprefix": stdlib.TrimPrefixFunc,
	"try":        tryfunc.TryFunc,
	"upper":      stdlib.UpperFunc,
	"values":     stdlib.ValuesFunc,
}

// evalContext builds the evaluation context of the module in pm for the
// given inputs.
func evalContext(pm *parsedModule, inputs map[string]cty.Value) (*hcl.EvalContext, error) {
	vars := map[string]cty.Value{}
	for _, b := range pm.blocks("variable") {
		name := b.Labels[0]
		ty, defaults := cty.DynamicPseudoType, (*typeexpr.Defaults)(nil)
		if a := b.Body.Attributes["type"]; a != nil {
			var diags hcl.Diagnostics
			ty, defaults, diags = typeexpr.TypeConstraintWithDefaults(a.Expr)
			if diags.HasErrors() {
				return nil, fmt.Errorf("variable %s: %v", name, diags)
			}
		}
		v, given := inputs[name]
		if !given {
			v = cty.DynamicVal
			if a := b.Body.Attributes["default"]; a != nil {
				dv, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					return nil, fmt.Errorf("variable %s default: %v", name, diags)
				}
				v = dv
			}
		}
		if defaults != nil && !v.IsNull() && v.IsKnown() {
			v = defaults.Apply(v)
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %v", name, err)
		}
		vars[name] = cv
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: hclFunctions}
	// Every other root (data, resources, path, terraform) is unknown.
	for _, tr := range pm.traversals() {
		ctx.Variables[tr.RootName()] = cty.DynamicVal
	}
	ctx.Variables["var"] = cty.ObjectVal(vars)
	ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(pm.dir)})

	pending := map[string]hcl.Expression{}
	for _, b := range pm.blocks("locals") {
		for name, a := range b.Body.Attributes {
			pending[name] = a.Expr
		}
	}
	locals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for name, expr := range pending {
			ready := true
			for _, tr := range expr.Variables() {
				if dep := attrName(tr, 1); tr.RootName() == "local" && pending[dep] != nil && dep != name {
					ready = false
				}
			}
			if !ready {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				v = cty.DynamicVal // needs something unknown, or a function not listed
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			for name := range pending {
				locals[name] = cty.DynamicVal
			}
			break
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx, nil
}

// ingressRule is one instance of an aws_vpc_security_group_ingress_rule.
type ingressRule struct {
	Resource string // address, e.g. aws_vpc_security_group_ingress_rule.mesh["gossip-tcp 10.0.1.0/24"]
	AgentSG  bool   // on the agents' own security group
	Protocol string // "" when unknown
	From, To int    // -1 when unknown
	CIDR     string // "" when unknown at plan time or not a CIDR rule
	Other    string // a non-CIDR source (security group, prefix list), if any
}

func (r ingressRule) port() string { return fmt.Sprintf("%s/%d", r.Protocol, r.From) }

// ingressRules enumerates the module's ingress rules for these inputs. A
// rule kind the check cannot reason about (inline ingress blocks,
// aws_security_group_rule) is an error.
func ingressRules(dir string, inputs map[string]cty.Value) ([]ingressRule, []string) {
	pm, err := parseModule(dir)
	if err != nil {
		return nil, []string{err.Error()}
	}
	ctx, err := evalContext(pm, inputs)
	if err != nil {
		return nil, []string{err.Error()}
	}
	var rules []ingressRule
	var problems []string
	for _, b := range pm.blocks("resource") {
		typ, name := b.Labels[0], b.Labels[1]
		switch typ {
		case "aws_security_group":
			for _, inner := range b.Body.Blocks {
				if inner.Type == "ingress" {
					problems = append(problems, fmt.Sprintf("%s.%s: inline ingress block; use aws_vpc_security_group_ingress_rule so the rules can be checked", typ, name))
				}
			}
			continue
		case "aws_security_group_rule":
			problems = append(problems, fmt.Sprintf("%s.%s: use aws_vpc_security_group_ingress_rule so the rules can be checked", typ, name))
			continue
		case "aws_vpc_security_group_ingress_rule":
		default:
			continue
		}
		agentSG := false
		if a := b.Body.Attributes["security_group_id"]; a != nil {
			for _, tr := range a.Expr.Variables() {
				agentSG = agentSG || tr.RootName() == "aws_security_group"
			}
		}
		for _, inst := range instances(b, ctx) {
			r := ingressRule{Resource: typ + "." + name + inst.key, AgentSG: agentSG, From: -1, To: -1}
			str := func(attr string) string {
				a := b.Body.Attributes[attr]
				if a == nil {
					return ""
				}
				v, diags := a.Expr.Value(inst.ctx)
				if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
					return ""
				}
				if v, err := convert.Convert(v, cty.String); err == nil {
					return v.AsString()
				}
				return ""
			}
			r.Protocol = str("ip_protocol")
			if n, err := strconv.Atoi(str("from_port")); err == nil {
				r.From = n
			}
			if n, err := strconv.Atoi(str("to_port")); err == nil {
				r.To = n
			}
			r.CIDR = str("cidr_ipv4")
			if b.Body.Attributes["cidr_ipv6"] != nil {
				r.Other = "cidr_ipv6"
			}
			if b.Body.Attributes["referenced_security_group_id"] != nil {
				r.Other = "security group"
			}
			if b.Body.Attributes["prefix_list_id"] != nil {
				r.Other = "prefix list"
			}
			rules = append(rules, r)
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Resource < rules[j].Resource })
	return rules, problems
}

type instance struct {
	key string
	ctx *hcl.EvalContext
}

// instances expands for_each or count; an unknown expansion stands for one
// instance with unknown each/count values.
func instances(b *hclsyntax.Block, ctx *hcl.EvalContext) []instance {
	child := func(vars map[string]cty.Value) *hcl.EvalContext {
		c := ctx.NewChild()
		c.Variables = vars
		return c
	}
	unknownEach := child(map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})})
	if a := b.Body.Attributes["for_each"]; a != nil {
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
			return []instance{{"[?]", unknownEach}}
		}
		var out []instance
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if v.Type().IsSetType() {
				k = val
			}
			ks := k.AsString()
			out = append(out, instance{fmt.Sprintf("[%q]", ks), child(map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(ks), "value": val})})})
		}
		return out
	}
	if a := b.Body.Attributes["count"]; a != nil {
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
			return []instance{{"[?]", child(map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.UnknownVal(cty.Number)})})}}
		}
		n, _ := v.AsBigFloat().Int64()
		var out []instance
		for i := int64(0); i < n; i++ {
			out = append(out, instance{fmt.Sprintf("[%d]", i), child(map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})})})
		}
		return out
	}
	return []instance{{"", ctx}}
}

// checkSecurityGroups lists the differences between the ingress rules the
// module at dir creates on the agents' security group (for these inputs) and
// what the topology's agents of region need: gossip TCP and UDP, control TCP
// and API TCP on each agent's own ports, reachable from every agent of the
// mesh, and nothing else. The one exception is a rule whose source is known
// only at apply time (Route 53 health checkers): it may open the API port.
func checkSecurityGroups(dir string, inputs map[string]cty.Value, mesh *topology.Mesh, region string) []string {
	rules, problems := ingressRules(dir, inputs)
	r, ok := mesh.Region(region)
	if !ok {
		return append(problems, fmt.Sprintf("region %q is not in the topology", region))
	}
	need := map[string]string{} // "proto/port" → what listens there
	apiPorts := map[string]bool{}
	for _, a := range r.Agents {
		add := func(proto, addr, what string) {
			if addr == "" {
				return
			}
			_, port, _ := net.SplitHostPort(addr)
			need[proto+"/"+port] = fmt.Sprintf("%s of agent %s", what, a.ID)
		}
		add("tcp", a.Gossip, "gossip")
		add("udp", a.Gossip, "gossip")
		add("tcp", a.Control, "control plane")
		add("tcp", a.API, "API and /metrics")
		_, port, _ := net.SplitHostPort(a.API)
		apiPorts["tcp/"+port] = true
	}
	type peer struct{ id, region string }
	peers := map[string]peer{} // host → an agent there
	for _, pr := range mesh.Regions {
		for _, a := range pr.Agents {
			host, _, _ := net.SplitHostPort(a.Gossip)
			peers[host] = peer{a.ID, pr.Name}
		}
	}

	allowed := map[string]map[string]bool{} // "proto/port" → allowed peer hosts
	for _, rule := range rules {
		if !rule.AgentSG {
			continue
		}
		switch {
		case rule.Protocol == "" || rule.From < 0 || rule.To < 0:
			problems = append(problems, fmt.Sprintf("%s: protocol or port cannot be computed from the inputs", rule.Resource))
			continue
		case rule.From != rule.To:
			problems = append(problems, fmt.Sprintf("%s: opens the range %s/%d-%d; open single ports", rule.Resource, rule.Protocol, rule.From, rule.To))
			continue
		case need[rule.port()] == "":
			problems = append(problems, fmt.Sprintf("%s: opens %s, which no agent of region %s listens on", rule.Resource, rule.port(), region))
			continue
		case rule.Other != "":
			problems = append(problems, fmt.Sprintf("%s: source is a %s; agents' ports are open to the mesh's CIDRs only", rule.Resource, rule.Other))
			continue
		case rule.CIDR == "":
			if !apiPorts[rule.port()] {
				problems = append(problems, fmt.Sprintf("%s: source unknown until apply; only the API port may be open to such a source (health checks)", rule.Resource))
			}
			continue
		}
		_, cidr, err := net.ParseCIDR(rule.CIDR)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: cidr %q: %v", rule.Resource, rule.CIDR, err))
			continue
		}
		if ones, _ := cidr.Mask.Size(); ones == 0 {
			problems = append(problems, fmt.Sprintf("%s: opens %s to the whole internet (%s)", rule.Resource, rule.port(), rule.CIDR))
			continue
		}
		inMesh := false
		for host := range peers {
			if ip := net.ParseIP(host); ip != nil && cidr.Contains(ip) {
				inMesh = true
				if allowed[rule.port()] == nil {
					allowed[rule.port()] = map[string]bool{}
				}
				allowed[rule.port()][host] = true
			}
		}
		if !inMesh {
			problems = append(problems, fmt.Sprintf("%s: %s holds no agent of the mesh", rule.Resource, rule.CIDR))
		}
	}
	for _, port := range sortedKeys(need) {
		for _, host := range sortedKeys(peers) {
			if !allowed[port][host] {
				p := peers[host]
				problems = append(problems, fmt.Sprintf("no rule lets agent %s of region %s (%s) reach %s (%s)", p.id, p.region, host, port, need[port]))
			}
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSecurityGroupsMatchTopology evaluates the aws-region module's
// security-group rules with the inputs each example passes it and checks them
// against the ports the rendered topology's agents listen on.
func TestSecurityGroupsMatchTopology(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex, func(t *testing.T) {
			r := renderExample(t, ex)
			for _, call := range sortedKeys(r.RegionCalls) {
				args := r.RegionCalls[call]
				region := args["region_name"].AsString()
				for _, p := range checkSecurityGroups(filepath.Join("modules", "aws-region"), args, r.Mesh, region) {
					t.Errorf("module %s (region %s): %s", call, region, p)
				}
				rules, _ := ingressRules(filepath.Join("modules", "aws-region"), args)
				mesh := 0
				for _, rule := range rules {
					if rule.AgentSG && rule.CIDR != "" {
						mesh++
					}
				}
				// gossip tcp+udp, control, api: one rule each per peer CIDR.
				if want := 4 * args["peer_cidrs"].LengthInt(); mesh != want {
					t.Errorf("module %s: %d mesh ingress rules, want %d", call, mesh, want)
				}
			}
		})
	}
}

// TestSecurityGroupCheckCatchesBrokenRules runs the check on modules with a
// port missing or one too many, with the inputs the active-passive example
// gives its primary region.
func TestSecurityGroupCheckCatchesBrokenRules(t *testing.T) {
	r := renderExample(t, "active-passive")
	args := r.RegionCalls["us_east_1"]
	tests := []struct {
		dir  string
		want []string
	}{
		{"testdata/broken-sg-missing-port", []string{
			"no rule lets agent eu-west-1-1 of region eu-west-1 (10.20.1.10) reach udp/7946 (gossip of agent us-east-1-",
			"no rule lets agent us-west-2-1 of region us-west-2 (10.30.1.10) reach udp/7946",
		}},
		{"testdata/broken-sg-extra-port", []string{
			`aws_vpc_security_group_ingress_rule.ssh["10.10.1.0/24"]: opens tcp/22, which no agent of region us-east-1 listens on`,
			`aws_vpc_security_group_ingress_rule.api_world: opens tcp/8080 to the whole internet (0.0.0.0/0)`,
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			got := strings.Join(checkSecurityGroups(tt.dir, args, r.Mesh, "us-east-1"), "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems do not include %q; got:\n%s", w, got)
				}
			}
		})
	}
}
