package secure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror/acls"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// fenceMesh writes an active-passive mesh east → west over SASL_SSL with
// a witness and an embedded control plane, and returns its path.
func fenceMesh(t *testing.T, mesh string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `mesh: %s
topology: {kind: active-passive, primary: east, standby: [west]}
topics: {include: ["%[1]s-.*"]}
failover: {mode: manual}
control_plane: {embedded: true}
regions:
`, mesh)
	for _, r := range []struct {
		name string
		c    *kafkatest.Cluster
	}{{"east", east}, {"west", west}, {"witness", nil}} {
		fmt.Fprintf(&b, "  - name: %s\n", r.name)
		if r.c != nil {
			fmt.Fprintf(&b, `    kafka:
      bootstrap: [%s]
      tls: {ca_file: %s}
      sasl: {mechanism: SCRAM-SHA-512, username: %s, password: "env:%s"}
`, r.c.Bootstrap()[0], r.c.CAFile(), geomeshUser, passwordEnv)
		} else {
			b.WriteString("    witness: true\n")
		}
		fmt.Fprintf(&b, "    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n", r.name, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	return testkit.TempFile(t, mesh+".yaml", b.String())
}

// fenceFixture is an active-passive mesh east → west with a witness on
// the secured clusters, the topic <mesh>-orders in east and its copy in
// west, and an application principal that the operator gave WRITE on it
// in both regions: literal in east, prefixed in west, so that the fence
// follows the patterns as the operator made them.
type fenceFixture struct {
	t                      *testing.T
	mesh, topic            string
	m                      *topology.Mesh
	dir                    string
	log                    *slog.Logger
	eastAdm, westAdm       *kadm.Client
	eastBefore, westBefore []string
}

func newFenceFixture(t *testing.T, mesh string) *fenceFixture {
	t.Setenv(passwordEnv, geomeshPass)
	f := &fenceFixture{t: t, mesh: mesh, topic: mesh + "-orders", dir: t.TempDir(),
		log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name()),
		eastAdm: admin(t, east), westAdm: admin(t, west)}
	testkit.CreateTopic(t, f.eastAdm, 1, 1, nil, f.topic)
	app := "User:" + appUser
	grant(t, f.eastAdm, kadm.NewACLs().Topics(f.topic).Allow(app).Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe))
	grant(t, f.westAdm, kadm.NewACLs().Topics(mesh+"-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow(app).Operations(kadm.OpAll))
	f.eastBefore, f.westBefore = aclsOf(t, f.eastAdm), aclsOf(t, f.westAdm)
	m, err := topology.Load(fenceMesh(t, mesh))
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

// start runs an agent of region; a restarted one finds its control-plane
// node's data again.
func (f *fenceFixture) start(region string) *agent.Agent {
	f.t.Helper()
	a, err := agent.New(agent.Config{Mesh: f.m, Region: region, ControlDir: f.dir, Logger: f.log})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := a.Start(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = a.Close() })
	return a
}

func roles(want map[*agent.Agent]string, epoch uint64) func() error {
	return func() error {
		for a, role := range want {
			if st := a.Status(); string(st.Role) != role || st.Epoch != epoch {
				return fmt.Errorf("%s: role %q at epoch %d, want %q at %d", a.Region(), st.Role, st.Epoch, role, epoch)
			}
		}
		return nil
	}
}

// up waits for the roles of epoch 1 and for the copy of the topic.
func (f *fenceFixture) up(ea, wa *agent.Agent) {
	waitFor(f.t, 60*time.Second, "roles at epoch 1", roles(map[*agent.Agent]string{ea: "primary", wa: "standby"}, 1))
	waitFor(f.t, 30*time.Second, "copy of "+f.topic, func() error {
		td, err := f.westAdm.ListTopics(f.t.Context(), f.topic)
		if err == nil {
			err = td.Error()
		}
		if err == nil && len(td) == 0 {
			err = errors.New("not yet")
		}
		return err
	})
}

// holds waits until a's fence reports itself fenced with exactly the
// DENYs: the pass that made a DENY updates the status only after reading
// the ACLs back, a moment after the broker enforces it.
func (f *fenceFixture) holds(a *agent.Agent, denies ...string) {
	f.t.Helper()
	waitFor(f.t, 5*time.Second, a.Region()+"'s fence status", func() error {
		if st := a.Status().Fence; st == nil || !st.Fenced || !slices.Equal(sorted(st.Denies), sorted(denies)) {
			return fmt.Errorf("%+v, want fenced with %v", st, denies)
		}
		return nil
	})
}

func (f *fenceFixture) accepts(c *kafkatest.Cluster, region string) func() error {
	return func() error {
		if err := produceAs(f.t, c, appUser, appPass, f.topic); err != nil {
			return fmt.Errorf("app refused by %s: %w", region, err)
		}
		return nil
	}
}

func (f *fenceFixture) refuses(c *kafkatest.Cluster, region string) func() error {
	return func() error {
		if err := produceAs(f.t, c, appUser, appPass, f.topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			return fmt.Errorf("app on %s: got %v, want TOPIC_AUTHORIZATION_FAILED", region, err)
		}
		return nil
	}
}

// TestFenceFailover: the operator gave the application WRITE on the
// mirrored topic in both regions. Only the primary accepts its writes;
// after a planned failover to west, east refuses them within 10 s and
// west accepts them; after the failback it is the other way round again,
// and every ACL the operator made is still there.
func TestFenceFailover(t *testing.T) {
	f := newFenceFixture(t, "fence-fo")
	mesh, topic := f.mesh, f.topic
	eastAdm, westAdm, eastBefore, westBefore := f.eastAdm, f.westAdm, f.eastBefore, f.westBefore
	accepts, refuses := f.accepts, f.refuses
	ea, wa, _ := f.start("east"), f.start("west"), f.start("witness")
	f.up(ea, wa)
	if err := accepts(east, "east")(); err != nil {
		t.Fatalf("before any failover: %v", err)
	}
	took := waitFor(t, 10*time.Second, "west fenced as standby", refuses(west, "west"))
	t.Logf("epoch 1: east accepts the app; west refuses it (%s after its role was read)", took.Round(time.Millisecond))
	f.holds(wa, "DENY User:app WRITE on TOPIC:PREFIXED:"+mesh+"- from *")

	// A planned failover: switch started at epoch 2, the flip at epoch 3.
	begin := time.Now()
	command(t, ea, "/v1/failover", `{"to":"west"}`)
	waitFor(t, 60*time.Second, "flip to west", roles(map[*agent.Agent]string{ea: "standby", wa: "primary"}, 3))
	flipped := time.Now()
	eastTook := waitFor(t, 10*time.Second, "east refuses after the failover", refuses(east, "east"))
	westTook := waitFor(t, 10*time.Second, "west accepts after the failover", accepts(west, "west"))
	t.Logf("failover to west: flip %s after the request; then east refused the app after %s, west accepted it after %s more",
		flipped.Sub(begin).Round(time.Millisecond), eastTook.Round(time.Millisecond), westTook.Round(time.Millisecond))
	f.holds(ea, "DENY User:app WRITE on TOPIC:LITERAL:"+topic+" from *")
	// The fence's DENY and marker are not mirrored back to the primary.
	// Writes pass once the DENY is gone; the pass that lifted it may
	// still be deleting the marker, so the ACLs are read until it is.
	waitFor(t, 5*time.Second, "west, the primary, holds no DENY for the app", func() error {
		if got := aclsOf(t, westAdm); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "DENY User:app") }) {
			return fmt.Errorf("west holds %v", got)
		}
		return nil
	})

	// The failback: east is primary again at epoch 5.
	begin = time.Now()
	command(t, ea, "/v1/failback", "")
	waitFor(t, 60*time.Second, "flip back to east", roles(map[*agent.Agent]string{ea: "primary", wa: "standby"}, 5))
	flipped = time.Now()
	eastTook = waitFor(t, 10*time.Second, "east accepts after the failback", accepts(east, "east"))
	westTook = waitFor(t, 10*time.Second, "west refuses after the failback", refuses(west, "west"))
	t.Logf("failback to east: flip %s after the request; then east accepted the app after %s, west refused it after %s more",
		flipped.Sub(begin).Round(time.Millisecond), eastTook.Round(time.Millisecond), westTook.Round(time.Millisecond))

	// geomesh removed exactly the DENYs it added: east keeps the
	// operator's ACLs (and the read-only copies of west's that ACL sync
	// made while west was primary), west the operator's and the fence.
	gotEast := aclsOf(t, eastAdm)
	for _, a := range eastBefore {
		if !slices.Contains(gotEast, a) {
			t.Errorf("east after the failback lacks the operator's %s", a)
		}
	}
	// Other tests share the clusters and keep DENYs of their own.
	if i := slices.IndexFunc(gotEast, func(s string) bool { return strings.HasPrefix(s, "DENY ") && strings.Contains(s, mesh) }); i >= 0 {
		t.Errorf("east, the primary again, still holds %s", gotEast[i])
	}
	fence := []string{
		"DENY User:app DESCRIBE on TOPIC:LITERAL:geomesh-fence:" + mesh + ":PREFIXED:" + mesh + "- from *",
		"DENY User:app WRITE on TOPIC:PREFIXED:" + mesh + "- from *",
	}
	got := aclsOf(t, westAdm)
	for _, a := range append(westBefore, fence...) {
		if !slices.Contains(got, a) {
			t.Errorf("west after the failback lacks %s; has\n%s", a, strings.Join(got, "\n"))
		}
	}
}

// command sends an operator command to an agent's API and retries it
// while the agent answers that it cannot decide yet (right after the
// agents start, the voters may not agree that a region is up), as the
// runbooks tell an operator to.
func command(t *testing.T, a *agent.Agent, path, body string) {
	t.Helper()
	waitFor(t, 30*time.Second, "POST "+path+" "+body, func() error {
		err := tryPost(a, path, body)
		if err != nil && !strings.Contains(err.Error(), "; retry") {
			t.Fatal(err)
		}
		return err
	})
}

// tryPost sends an operator command to an agent's API.
func tryPost(a *agent.Agent, path, body string) error {
	resp, err := http.Post("http://"+a.APIAddr()+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s %v", path, resp.Status, out)
	}
	return nil
}

// fenceReports records what a Fencer observed.
type fenceReports struct {
	mu   sync.Mutex
	last []acls.FenceReport
}

func (r *fenceReports) ObserveFence(rep acls.FenceReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = append(r.last, rep)
}

// fencerAs returns a Fencer of east's cluster that connects as a SCRAM
// user, for the mirrored topics with prefix.
func fencerAs(t *testing.T, user, pass, prefix string, obs acls.FenceObserver) *acls.Fencer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(east.Bootstrap()...), kgo.DialTLSConfig(tlsTo(t, east)),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return acls.NewFencer(acls.FencerConfig{
		Mesh:     strings.TrimSuffix(prefix, "-"),
		Region:   "east",
		Kafka:    &topology.Kafka{SASL: &topology.SASL{Mechanism: "SCRAM-SHA-512", Username: user}},
		Cluster:  cl,
		Selects:  func(topic string) bool { return strings.HasPrefix(topic, prefix) },
		Observer: obs,
	})
}

// TestFenceWithoutAlter: an agent whose principal may read the cluster's
// ACLs but not change them reports exactly that, and creates no DENY.
func TestFenceWithoutAlter(t *testing.T) {
	const prefix = "fence-noalter-"
	adm := admin(t, east)
	grant(t, adm, kadm.NewACLs().Clusters().Allow("User:"+fencerUser).Operations(kadm.OpDescribe))
	grant(t, adm, kadm.NewACLs().Topics(prefix+"orders").Allow("User:"+appUser).Operations(kadm.OpWrite))
	var obs fenceReports
	f := fencerAs(t, fencerUser, fencerPass, prefix, &obs)
	f.SetFenced(true)
	err := f.PassOnce(t.Context())
	want := "region east: User:fencer may not ALTER the CLUSTER (to create DENY User:app DESCRIBE on TOPIC:LITERAL:geomesh-fence:fence-noalter:LITERAL:" + prefix + "orders from *)"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("pass without ALTER: %v\nwant it to say %q", err, want)
	}
	if st := f.Status(); st.Error != err.Error() || !st.Fenced || len(st.Denies) != 0 {
		t.Errorf("status: %+v", st)
	}
	if len(obs.last) != 1 || !errors.Is(obs.last[0].Err, kerr.ClusterAuthorizationFailed) || obs.last[0].Created != 0 {
		t.Errorf("observed %+v", obs.last)
	}
	t.Logf("without ALTER: %v", err)
	for _, a := range aclsOf(t, adm) {
		if strings.HasPrefix(a, "DENY User:app") {
			t.Errorf("a DENY was made without its marker: %s", a)
		}
	}
}

// TestFenceRestart: DENYs one Fencer made are removed by another, as by
// a restarted agent or another agent of the region; an operator's DENY
// equal to one the fence makes, and one of its own, are kept.
func TestFenceRestart(t *testing.T) {
	const prefix = "fence-restart-"
	adm := admin(t, east)
	app := "User:" + appUser
	grant(t, adm, kadm.NewACLs().Topics(prefix+"orders").Allow(app).Operations(kadm.OpWrite, kadm.OpRead))
	grant(t, adm, kadm.NewACLs().Topics(prefix+"pay.").ResourcePatternType(kadm.ACLPatternPrefixed).Allow(app).Operations(kadm.OpAll))
	grant(t, adm, kadm.NewACLs().Topics(prefix+"audit").Allow(app).Operations(kadm.OpWrite))
	grant(t, adm, kadm.NewACLs().Topics(prefix+"audit").Deny(app).DenyHosts("*").Operations(kadm.OpWrite))
	grant(t, adm, kadm.NewACLs().Topics(prefix+"orders").Deny("User:mallory").DenyHosts("*").Operations(kadm.OpWrite))
	mine := func() []string {
		var out []string
		for _, a := range aclsOf(t, adm) {
			if strings.Contains(a, prefix) {
				out = append(out, a)
			}
		}
		return out
	}
	before := mine()

	first := fencerAs(t, geomeshUser, geomeshPass, prefix, nil)
	first.SetFenced(true)
	if err := first.PassOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantDenies := []string{
		"DENY User:app WRITE on TOPIC:LITERAL:" + prefix + "orders from *",
		"DENY User:app WRITE on TOPIC:PREFIXED:" + prefix + "pay. from *",
	}
	if st := first.Status(); !slices.Equal(sorted(st.Denies), wantDenies) || st.Created != 2 {
		t.Fatalf("first fencer: %+v, want denies %v", st, wantDenies)
	}
	// A second pass changes nothing.
	if err := first.PassOnce(t.Context()); err != nil || first.Status().Created != 2 {
		t.Fatalf("second pass: %v, %+v", err, first.Status())
	}

	second := fencerAs(t, geomeshUser, geomeshPass, prefix, nil)
	second.SetFenced(false)
	if err := second.PassOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := second.Status(); len(st.Denies) != 0 || st.Deleted != 2 {
		t.Errorf("second fencer: %+v", st)
	}
	// Deleted ACLs, like created ones, leave the broker's view a moment later.
	waitFor(t, 10*time.Second, "ACLs as before the fence", func() error {
		if got := mine(); !slices.Equal(got, before) {
			return fmt.Errorf("after the second fencer:\n%s\nwant as before\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
		}
		return nil
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestFencePrimaryLoss: east's agent dies while east is primary and the
// operator forces the failover to west. East's cluster has no agent to
// fence it, so west's agent does (its write gate) before it lifts its own
// fence: by the time west accepts the application, east refuses it. Once
// east's agent is back it reads that it was demoted and keeps the fence.
func TestFencePrimaryLoss(t *testing.T) {
	f := newFenceFixture(t, "fence-loss")
	ea, wa, _ := f.start("east"), f.start("west"), f.start("witness")
	f.up(ea, wa)
	waitFor(t, 10*time.Second, "west fenced as standby", f.refuses(west, "west"))
	if err := f.accepts(east, "east")(); err != nil {
		t.Fatalf("before the loss: %v", err)
	}

	if err := ea.Close(); err != nil {
		t.Log(err)
	}
	begin := time.Now()
	// Two of the three control-plane nodes are left: a majority.
	waitFor(t, 30*time.Second, "forced failover to west", func() error {
		return tryPost(wa, "/v1/failover", `{"to":"west","force":true}`)
	})
	waitFor(t, 30*time.Second, "west primary", func() error {
		if st := wa.Status(); st.Role != "primary" || st.Epoch < 2 {
			return fmt.Errorf("west: role %q at epoch %d", st.Role, st.Epoch)
		}
		return nil
	})
	flipped := time.Now()
	westTook := waitFor(t, 10*time.Second, "west accepts after the failover", f.accepts(west, "west"))
	t.Logf("forced failover: west primary at epoch %d %s after the request; it accepted the app %s later",
		wa.Status().Epoch, flipped.Sub(begin).Round(time.Millisecond), westTook.Round(time.Millisecond))
	if err := f.refuses(east, "east")(); err != nil {
		t.Fatalf("east without its agent, once west accepts: %v (west fences it first)", err)
	}

	restarted := time.Now()
	ea = f.start("east")
	waitFor(t, 30*time.Second, "east's agent learns it was demoted", func() error {
		if st := ea.Status(); st.Fence == nil || !st.Fence.Known || !st.Fence.Fenced {
			return fmt.Errorf("east: role %q at epoch %d, fence %+v", st.Role, st.Epoch, st.Fence)
		}
		return nil
	})
	f.holds(ea, "DENY User:app WRITE on TOPIC:LITERAL:"+f.topic+" from *")
	t.Logf("east's agent restarted: it holds west's fence of east %s after it started (role %q, epoch %d)",
		time.Since(restarted).Round(time.Millisecond), ea.Status().Role, ea.Status().Epoch)
	if err := f.refuses(east, "east")(); err != nil {
		t.Errorf("east, demoted: %v", err)
	}
	if err := f.accepts(west, "west")(); err != nil {
		t.Errorf("west, the primary: %v", err)
	}
}

// TestFenceSelfFence: east, the primary, loses the control plane (the
// agents of west and the witness, which hold the other two nodes, stop).
// It fences itself and denies the application's writes, though no other
// region was promoted; once the nodes are back and a fresh read says east
// is still primary, it accepts them again.
func TestFenceSelfFence(t *testing.T) {
	f := newFenceFixture(t, "fence-self")
	ea, wa, xa := f.start("east"), f.start("west"), f.start("witness")
	f.up(ea, wa)
	if err := f.accepts(east, "east")(); err != nil {
		t.Fatalf("before the loss: %v", err)
	}

	lost := time.Now()
	for _, a := range []*agent.Agent{wa, xa} {
		if err := a.Close(); err != nil {
			t.Log(err)
		}
	}
	waitFor(t, 30*time.Second, "east fenced", func() error {
		if st := ea.Status(); !st.Fenced {
			return fmt.Errorf("east: role %q, not fenced (control plane %s)", st.Role, ea.Failover().ControlPlane)
		}
		return nil
	})
	fenced := time.Now()
	eastTook := waitFor(t, 10*time.Second, "east refuses while fenced", f.refuses(east, "east"))
	t.Logf("control plane lost: east fenced itself %s later and refused the app %s after that",
		fenced.Sub(lost).Round(time.Millisecond), eastTook.Round(time.Millisecond))
	if st := ea.Status(); st.Role != "primary" || st.Epoch != 1 {
		t.Errorf("east while fenced: role %q at epoch %d, want primary at 1", st.Role, st.Epoch)
	}

	back := time.Now()
	wa, _ = f.start("west"), f.start("witness")
	waitFor(t, 60*time.Second, "east unfenced", func() error {
		if st := ea.Status(); st.Fenced {
			return fmt.Errorf("east still fenced (control plane %s)", ea.Failover().ControlPlane)
		}
		return nil
	})
	unfenced := time.Now()
	eastTook = waitFor(t, 10*time.Second, "east accepts once unfenced", f.accepts(east, "east"))
	t.Logf("control plane back: east unfenced %s after the restart and accepted the app %s after that",
		unfenced.Sub(back).Round(time.Millisecond), eastTook.Round(time.Millisecond))
	waitFor(t, 10*time.Second, "west still refuses", f.refuses(west, "west"))
	waitFor(t, 5*time.Second, "east's fence status", func() error {
		if st := ea.Status().Fence; st == nil || st.Fenced || len(st.Denies) != 0 {
			return fmt.Errorf("%+v, want not fenced, no DENYs", st)
		}
		return nil
	})
	// West's restarted agent kept its DENY and holds it as its own.
	f.holds(wa, "DENY User:app WRITE on TOPIC:PREFIXED:"+f.mesh+"- from *")
}
