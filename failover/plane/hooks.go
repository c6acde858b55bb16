package plane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// runHooks runs the topology's failover hooks for ev, each in its own
// goroutine owned by the agent's wait group, so that a slow webhook holds
// neither the machine nor the other hooks. Each is bounded by its
// timeout; Close cancels them.
func (p *Plane) runHooks(ctx context.Context, ev api.Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		p.log.Error("encoding the event for hooks failed", "epoch", ev.Epoch, "err", err)
		return
	}
	for i, h := range p.topo().Failover.Hooks {
		p.goRun(ctx, fmt.Sprintf("hook %d", i), func(ctx context.Context) error {
			err := runHook(ctx, h, body)
			if err != nil {
				p.log.Warn("failover hook failed", "hook", i, "event", ev.Kind, "epoch", ev.Epoch, "err", err)
			} else {
				p.log.Info("failover hook ran", "hook", i, "event", ev.Kind, "epoch", ev.Epoch)
			}
			return nil
		})
	}
}

// runHook runs one hook with the event's JSON on stdin (exec) or as the
// body of a POST (webhook).
func runHook(ctx context.Context, h topology.Hook, body []byte) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if len(h.Exec) > 0 {
		cmd := exec.CommandContext(ctx, h.Exec[0], h.Exec[1:]...)
		cmd.Stdin = bytes.NewReader(body)
		// A child that keeps the pipes open must not hold us past the
		// timeout.
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("exec %s: %w (output: %.200s)", h.Exec[0], err, out)
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", h.Webhook, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", h.Webhook, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: status %s", h.Webhook, resp.Status)
	}
	return nil
}
