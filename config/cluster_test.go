package config

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// cluster: needs a PostgreSQL ledger; node defaults to the host name and
// lease to 30s; both are checked.
func TestCluster(t *testing.T) {
	setTestEnv(t)
	t.Setenv("TEST_DSN", "postgres://exchanged:HUNTER2@db.example:5432/exchanged?sslmode=verify-full")
	t.Setenv("TEST_LEDGER_KEY", hex.EncodeToString(make([]byte, 32)))
	pg := "ledger:\n  postgres: env:TEST_DSN\n  key: env:TEST_LEDGER_KEY\n"
	if c := mustParse(t, baseYAML+pg); c.Cluster != nil {
		t.Fatalf("a cluster without one in the file: %+v", c.Cluster)
	}
	c := mustParse(t, baseYAML+pg+"cluster: {node: vm-2, lease: 45s}\n")
	if c.Cluster == nil || c.Cluster.Node != "vm-2" || c.Cluster.Lease.D() != 45*time.Second {
		t.Fatalf("cluster = %+v", c.Cluster)
	}
	host, _ := os.Hostname()
	c = mustParse(t, baseYAML+pg+"cluster: {}\n")
	if c.Cluster.Node != host || c.Cluster.Lease.D() != DefaultLease {
		t.Fatalf("defaults: %+v, want node %q", c.Cluster, host)
	}
	for yaml, msg := range map[string]string{
		"cluster: {node: a}\n":            "cluster: only with ledger.postgres",
		pg + "cluster: {node: 'a b'}\n":   "cluster.node: must be",
		pg + "cluster: {node: -a}\n":      "cluster.node: must be",
		pg + "cluster: {lease: 1s}\n":     "cluster.lease: must be 3s to 10m",
		pg + "cluster: {lease: 1h}\n":     "cluster.lease: must be 3s to 10m",
		pg + "cluster: {nodes: [a, b]}\n": "nodes",
	} {
		_, err := parseString(t, baseYAML+yaml)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", yaml, err, msg)
		}
	}
}
