package helmtest

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// topo is the part of a topology file the chart must agree with. geomesh
// validate checks the whole file; this reads only what the test compares.
type topo struct {
	Mesh    string       `json:"mesh"`
	Regions []topoRegion `json:"regions"`
	API     struct {
		ReadToken  string `json:"read_token"`
		AdminToken string `json:"admin_token"`
		TLS        *struct {
			CertFile string `json:"cert_file"`
			KeyFile  string `json:"key_file"`
		} `json:"tls"`
	} `json:"api"`
	Gossip struct {
		Keys []string `json:"keys"`
	} `json:"gossip"`
	ControlPlane struct {
		TLS *struct {
			CAFile   string `json:"ca_file"`
			CertFile string `json:"cert_file"`
			KeyFile  string `json:"key_file"`
		} `json:"tls"`
		Credentials *struct {
			Password string `json:"password"`
		} `json:"credentials"`
	} `json:"control_plane"`
}

// topoRegion is one region of a topology file.
type topoRegion struct {
	Name    string `json:"name"`
	Witness bool   `json:"witness"`
	Kafka   *struct {
		TLS *struct {
			CAFile   string `json:"ca_file"`
			CertFile string `json:"cert_file"`
			KeyFile  string `json:"key_file"`
		} `json:"tls"`
		SASL *struct {
			Password string `json:"password"`
		} `json:"sasl"`
	} `json:"kafka"`
	Agents []struct {
		ID      string `json:"id"`
		Gossip  string `json:"gossip"`
		API     string `json:"api"`
		Control string `json:"control"`
	} `json:"agents"`
}

// region returns the region named name, or nil.
func (tp *topo) region(name string) *topoRegion {
	for i := range tp.Regions {
		if tp.Regions[i].Name == name {
			return &tp.Regions[i]
		}
	}
	return nil
}

func parseTopo(t *testing.T, text string) *topo {
	t.Helper()
	var tp topo
	if err := yaml.Unmarshal([]byte(text), &tp); err != nil {
		t.Fatalf("topology: %v", err)
	}
	return &tp
}

// hostPort splits an agent address.
func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return h, int32(n)
}

// references lists what an agent of region reads: the files (ca, cert and
// key files and file: secrets) and the env: variables. A data region's
// agent reads every cluster (its flows' sources, the write fence, health),
// a witness's only what is not a cluster's.
func (tp *topo) references(region string) (files, envs []string) {
	witness := false
	for _, r := range tp.Regions {
		if r.Name == region {
			witness = r.Witness
		}
	}
	add := func(ref string, isSecret bool) {
		switch {
		case ref == "":
		case isSecret && strings.HasPrefix(ref, "env:"):
			envs = append(envs, strings.TrimPrefix(ref, "env:"))
		case isSecret:
			files = append(files, strings.TrimPrefix(ref, "file:"))
		default:
			files = append(files, ref)
		}
	}
	if !witness {
		for _, r := range tp.Regions {
			if k := r.Kafka; k != nil {
				if k.TLS != nil {
					add(k.TLS.CAFile, false)
					add(k.TLS.CertFile, false)
					add(k.TLS.KeyFile, false)
				}
				if k.SASL != nil {
					add(k.SASL.Password, true)
				}
			}
		}
	}
	add(tp.API.ReadToken, true)
	add(tp.API.AdminToken, true)
	if tp.API.TLS != nil {
		add(tp.API.TLS.CertFile, false)
		add(tp.API.TLS.KeyFile, false)
	}
	for _, k := range tp.Gossip.Keys {
		add(k, true)
	}
	if c := tp.ControlPlane.TLS; c != nil {
		add(c.CAFile, false)
		add(c.CertFile, false)
		add(c.KeyFile, false)
	}
	if c := tp.ControlPlane.Credentials; c != nil {
		add(c.Password, true)
	}
	return files, envs
}
