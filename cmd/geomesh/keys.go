package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func keysCmd() *cobra.Command {
	var (
		keyRef, tokenRef, caFile string
		timeout                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "keys list|install|use|remove [--key REF]",
		Short: "Rotate the gossip encryption key across a running mesh",
		Long: `keys changes the gossip keyring of every agent the topology lists,
one agent after the other, through each agent's admin API (POST
/v1/keys/<op>, admin token from the topology's api.admin_token or --token).
The key is read from --key, an env:VARIABLE or file:/path reference to a
base64 key (openssl rand -base64 32), and never printed: agents and this
command show key ids, the first 8 bytes of the key's SHA-256.

Rotate without any agent losing sight of another by running each step on
the whole mesh before the next:

  geomesh keys install -t mesh.yaml --key file:/etc/geomesh/new-key
  geomesh keys use     -t mesh.yaml --key file:/etc/geomesh/new-key
  geomesh keys remove  -t mesh.yaml --key file:/etc/geomesh/old-key

then list the new key first in the topology's gossip.keys (and drop the
old one) so that restarted agents use it. list shows every agent's keys.
Each command prints one line per agent (--json: one object per agent) and
exits 1 if any agent failed.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"list", "install", "use", "remove"},
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[0]
			if op != "list" && op != "install" && op != "use" && op != "remove" {
				return usageErrorf("unknown keys operation %q; want list, install, use or remove", op)
			}
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			var key string
			if op != "list" {
				if keyRef == "" {
					return usageErrorf("keys %s needs --key env:VARIABLE or file:/path", op)
				}
				if key, err = (topology.Secret{Ref: keyRef}).Resolve(); err != nil {
					return err
				}
			}
			hc, err := keysHTTP(caFile, timeout)
			if err != nil {
				return err
			}
			c := api.NewClient(m, api.ClientOptions{HTTP: hc, Admin: true, Token: topology.Secret{Ref: tokenRef}})
			results := runKeys(cmd.Context(), c, m, op, key)
			if jsonOutput(cmd) {
				err = writeJSON(cmd.OutOrStdout(), results)
			} else {
				err = printKeys(cmd.OutOrStdout(), results)
			}
			if err != nil {
				return err
			}
			ok := true
			for _, r := range results {
				ok = ok && r.OK
			}
			if !ok {
				return exitError{"keys " + op + " failed on some agents"}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyRef, "key", "", "the gossip key, as env:VARIABLE or file:/path")
	cmd.Flags().StringVar(&tokenRef, "token", "", "admin token reference overriding the topology's api.admin_token")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM CA that signed the agents' API certificates (default: system pool)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time allowed per agent")
	return cmd
}

// keysHTTP is the HTTP client of the key operations: timeout per
// agent, and the agents' API certificates verified with caFile's CAs
// when given, else the system pool.
func keysHTTP(caFile string, timeout time.Duration) (*http.Client, error) {
	hc := &http.Client{Timeout: timeout}
	if caFile == "" {
		return hc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s: no PEM certificate found", caFile)
	}
	hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}}
	return hc, nil
}

// keysResult is one agent's result; keys --json prints a list of them
// (docs/cli.md).
type keysResult struct {
	Agent  string `json:"agent"`
	Region string `json:"region"`
	OK     bool   `json:"ok"`
	// Primary and Keys are key ids: the first 8 bytes of each key's
	// SHA-256, in hex.
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// runKeys applies op on every agent in file order, going on past
// failures so one unreachable agent does not leave the rest half done.
func runKeys(ctx context.Context, c *api.Client, m *topology.Mesh, op, key string) []keysResult {
	var out []keysResult
	for _, r := range m.Regions {
		for _, ag := range r.Agents {
			res := keysResult{Agent: ag.ID, Region: r.Name}
			ans, err := c.Keys(ctx, ag.API, op, key)
			if err != nil {
				res.Error = err.Error()
			} else {
				res.OK, res.Primary, res.Keys = true, ans.Primary, ans.Keys
			}
			out = append(out, res)
		}
	}
	return out
}

// printKeys prints one line per agent.
func printKeys(out io.Writer, results []keysResult) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AGENT\tREGION\tRESULT\tPRIMARY\tKEYS")
	for _, r := range results {
		if !r.OK {
			fmt.Fprintf(w, "%s\t%s\tfailed: %s\t\t\n", r.Agent, r.Region, r.Error)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\tok\t%s\t%s\n", r.Agent, r.Region, r.Primary, strings.Join(r.Keys, ","))
	}
	return w.Flush()
}
