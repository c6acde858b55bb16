package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
		file, keyRef, tokenRef, caFile string
		timeout                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "keys list|install|use|remove --topology FILE [--key REF]",
		Short: "Rotate the gossip encryption key across a running mesh",
		Long: `keys changes the gossip keyring of every agent the topology lists,
one agent after the other, through each agent's admin API (POST
/v1/keys/<op>, admin token from the topology's api.admin_token or --token).
The key is read from --key, an env:VARIABLE or file:/path reference to a
base64 key (openssl rand -base64 32), and never printed: agents and this
command show key ids, the first 8 bytes of the key's SHA-256.

Rotate without any agent losing sight of another by running each step on
the whole mesh before the next:

  geomesh keys install --topology mesh.yaml --key file:/etc/geomesh/new-key
  geomesh keys use     --topology mesh.yaml --key file:/etc/geomesh/new-key
  geomesh keys remove  --topology mesh.yaml --key file:/etc/geomesh/old-key

then list the new key first in the topology's gossip.keys (and drop the
old one) so that restarted agents use it. list shows every agent's keys.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"list", "install", "use", "remove"},
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[0]
			if op != "list" && op != "install" && op != "use" && op != "remove" {
				return fmt.Errorf("unknown keys operation %q; want list, install, use or remove", op)
			}
			m, err := loadTopology(cmd, file)
			if err != nil {
				return err
			}
			var key string
			if op != "list" {
				if keyRef == "" {
					return errors.New("keys " + op + " needs --key env:VARIABLE or file:/path")
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
			ok := runKeys(cmd.Context(), cmd.OutOrStdout(), c, m, op, key)
			if !ok {
				return exitError{"keys " + op + " failed on some agents"}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "topology", "", "topology file (required)")
	cmd.Flags().StringVar(&keyRef, "key", "", "the gossip key, as env:VARIABLE or file:/path")
	cmd.Flags().StringVar(&tokenRef, "token", "", "admin token reference overriding the topology's api.admin_token")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM CA that signed the agents' API certificates (default: system pool)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time allowed per agent")
	_ = cmd.MarkFlagRequired("topology")
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

// runKeys applies op on every agent in file order, going on past failures
// so one unreachable agent does not leave the rest half done, and prints
// one line per agent. It reports whether every agent succeeded.
func runKeys(ctx context.Context, out io.Writer, c *api.Client, m *topology.Mesh, op, key string) bool {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AGENT\tREGION\tRESULT\tPRIMARY\tKEYS")
	ok := true
	for _, r := range m.Regions {
		for _, ag := range r.Agents {
			ans, err := c.Keys(ctx, ag.API, op, key)
			if err != nil {
				ok = false
				fmt.Fprintf(w, "%s\t%s\tfailed: %v\t\t\n", ag.ID, r.Name, err)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\tok\t%s\t%s\n", ag.ID, r.Name, ans.Primary, strings.Join(ans.Keys, ","))
		}
	}
	_ = w.Flush()
	return ok
}
