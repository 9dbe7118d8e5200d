package main

import (
	"fmt"

	"github.com/exchanged/exchanged/config"
)

// clusterString describes cfg's cluster: setting for a reload's refusal,
// "" without one.
func clusterString(cfg *config.Config) string {
	if cfg.Cluster == nil {
		return ""
	}
	return fmt.Sprintf("node %s, lease %s", cfg.Cluster.Node, cfg.Cluster.Lease)
}
