package ops

import "github.com/prometheus/client_golang/prometheus"

// clusterMetrics are a cluster node's (config cluster:).
type clusterMetrics struct {
	node      string
	jobLease  *prometheus.GaugeVec
	leaseLost *prometheus.CounterVec
}

// Cluster adds the metrics of a cluster node named node: which jobs'
// leases it holds, and the leases it lost; each of jobs at 0 to begin
// with. Call it once, before JobLease and LeaseLost.
func (m *Metrics) Cluster(node string, jobs []string) {
	c := &clusterMetrics{node: node,
		jobLease: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "job_lease",
			Help: "1 while this node holds the job's lease (runs it in the cluster), else 0."}, []string{"job", "node"}),
		leaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "lease_lost_total",
			Help: "Job leases this node lost while working under them (not renewed in time, or taken over): its side effects stopped."}, []string{"job"}),
	}
	m.reg.MustRegister(c.jobLease, c.leaseLost)
	for _, j := range jobs {
		c.jobLease.WithLabelValues(j, node).Set(0)
		c.leaseLost.WithLabelValues(j)
	}
	m.cluster = c
}

// JobLease sets whether this node holds job's lease. Without Cluster it
// does nothing.
func (m *Metrics) JobLease(job string, held bool) {
	if m.cluster == nil {
		return
	}
	v := 0.0
	if held {
		v = 1
	}
	m.cluster.jobLease.WithLabelValues(job, m.cluster.node).Set(v)
}

// LeaseLost counts a lease of job this node lost. Without Cluster it does
// nothing.
func (m *Metrics) LeaseLost(job string) {
	if m.cluster != nil {
		m.cluster.leaseLost.WithLabelValues(job).Inc()
	}
}
