package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/topology"
)

const screenshot = "../docs/status-page.png"

// TestStatusPageInChromium renders the status page of the hub-spoke
// example's hub in headless Chromium (Debian package chromium), checks the
// rendered DOM and, with -update, keeps a screenshot in docs/. The page
// asks the browser to reload it every few seconds; a second render, once
// every flow's heartbeat has arrived, must show them.
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install Debian's chromium package (.ci/run does)")
	}
	m, err := topology.Load("../configs/examples/hub-spoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mesh := startLocal(t, ctx, m, agent.Config{HealthInterval: 500 * time.Millisecond})
	hub := localAgent(t, mesh, mesh.Topology().Roles.Hub)
	url := "http://" + hub.APIAddr() + "/"
	render := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--user-data-dir=" + t.TempDir(), "--window-size=1100,900"}, append(args, url)...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return string(out)
	}
	first := render("--dump-dom")
	for _, r := range mesh.Topology().Regions {
		if !strings.Contains(first, ">"+r.Name+"</text>") {
			t.Errorf("rendered page has no region %s on the map", r.Name)
		}
	}
	if !strings.Contains(first, `<b id="region">`+hub.Region()+`</b>`) {
		t.Errorf("rendered page does not name its region %s", hub.Region())
	}

	// Wait until every flow into the hub has a heartbeat: the page must
	// show it without anyone reloading it.
	poll.Until(t, 30*time.Second, func() error {
		hs := hub.Health()
		seen := 0
		for _, f := range hs.Flows {
			if f.HeartbeatSeen {
				seen++
			}
		}
		if seen == len(hs.Flows) && seen > 0 {
			return nil
		}
		return fmt.Errorf("heartbeats seen on %d of %d flows", seen, len(hs.Flows))
	})
	second := render("--dump-dom")
	if !strings.Contains(second, `http-equiv="refresh"`) {
		t.Errorf("the page does not refresh itself")
	}
	if strings.Contains(second, "(no beat yet)") || !strings.Contains(second, "<td>") {
		t.Errorf("the page still shows flows without heartbeats")
	}
	if *update {
		render("--screenshot="+absPath(t, screenshot), "--hide-scrollbars")
		if fi, err := os.Stat(screenshot); err != nil || fi.Size() < 10_000 {
			t.Fatalf("screenshot %s: %v", screenshot, err)
		}
		fmt.Println("wrote", screenshot)
	}
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd + "/" + p
}
