package config

import (
	"os"
	"regexp"
	"time"
)

// Cluster makes the daemon one node of several on one PostgreSQL ledger
// (ledger.postgres): each job runs on one node at a time, under a lease
// the node renews while it works (see README, "Running a cluster").
// Without it, a PostgreSQL ledger has one process that runs jobs on it.
type Cluster struct {
	// Node names this node in leases, logs and metrics; default the
	// host name. Each node of a cluster needs its own.
	Node string `yaml:"node"`
	// Lease is how long a node's claim on a job lasts unless renewed
	// (every lease/3); a node that died is taken over after it. Default
	// DefaultLease.
	Lease Duration `yaml:"lease"`
}

// DefaultLease is cluster.lease's default.
const DefaultLease = 30 * time.Second

// nodeName is the form of cluster.node: a label for logs and metrics.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// fill sets the cluster's defaults.
func (c *Cluster) fill() {
	if c == nil {
		return
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Lease == 0 {
		c.Lease = Duration(DefaultLease)
	}
}

// validate checks the cluster settings of c.
func (c *Config) validateCluster(p *problems) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	if !c.Ledger.Postgres.IsSet() {
		p.add("cluster", "only with ledger.postgres: the nodes of a cluster share one PostgreSQL ledger")
	}
	if !nodeName.MatchString(cl.Node) {
		p.add("cluster.node", "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (default: the host name)")
	}
	// At least 3s: a node stops a third of the lease before the database
	// lets another take over, the margin (1s) for a request in flight
	// then, such as a direct upload's create of the final name.
	if d := cl.Lease.D(); d < 3*time.Second || d > 10*time.Minute {
		p.add("cluster.lease", "must be 3s to 10m, not %s", cl.Lease)
	}
}
