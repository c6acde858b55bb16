package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

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
			token := m.API.AdminToken
			if tokenRef != "" {
				token = topology.Secret{Ref: tokenRef}
			}
			var bearer string
			if token.Ref != "" {
				if bearer, err = token.Resolve(); err != nil {
					return fmt.Errorf("admin token: %w", err)
				}
			}
			kc, err := newKeysClient(m, caFile, bearer, timeout)
			if err != nil {
				return err
			}
			ok := kc.run(cmd.Context(), cmd.OutOrStdout(), m, op, key)
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

// keysClient calls the agents' key endpoints.
type keysClient struct {
	http   *http.Client
	scheme string
	bearer string
}

func newKeysClient(m *topology.Mesh, caFile, bearer string, timeout time.Duration) (*keysClient, error) {
	kc := &keysClient{http: &http.Client{Timeout: timeout}, scheme: "http", bearer: bearer}
	if m.API.TLS != nil {
		kc.scheme = "https"
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("ca file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca file %s: no PEM certificate found", caFile)
			}
		}
		kc.http.Transport = &http.Transport{TLSClientConfig: tc}
	}
	return kc, nil
}

// keysAnswer is an agent's answer: its keyring, or an error.
type keysAnswer struct {
	Agent   string   `json:"agent"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
	Error   string   `json:"error"`
}

// run applies op on every agent in file order, going on past failures so
// one unreachable agent does not leave the rest half done, and prints
// one line per agent. It reports whether every agent succeeded.
func (kc *keysClient) run(ctx context.Context, out io.Writer, m *topology.Mesh, op, key string) bool {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AGENT\tREGION\tRESULT\tPRIMARY\tKEYS")
	ok := true
	for _, r := range m.Regions {
		for _, ag := range r.Agents {
			ans, err := kc.call(ctx, ag.API, op, key)
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

func (kc *keysClient) call(ctx context.Context, addr, op, key string) (*keysAnswer, error) {
	method, path, body := http.MethodGet, "/v1/keys", []byte(nil)
	if op != "list" {
		method, path = http.MethodPost, "/v1/keys/"+op
		body, _ = json.Marshal(map[string]string{"key": key})
	}
	req, err := http.NewRequestWithContext(ctx, method, kc.scheme+"://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if kc.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+kc.bearer)
	}
	resp, err := kc.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent api %s: %w", addr, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	var ans keysAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&ans); err != nil {
		return nil, fmt.Errorf("agent api %s: %s", addr, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, ans.Error)
	}
	return &ans, nil
}
