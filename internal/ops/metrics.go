package ops

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are exchanged's Prometheus metrics, in a registry of their own. The methods
// are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	files, bytes, rows, rejected *prometheus.CounterVec
	retries                      *prometheus.CounterVec
	runs                         *prometheus.CounterVec
	runDuration                  *prometheus.HistogramVec
	lastSuccess                  *prometheus.GaugeVec
	failing                      *prometheus.GaugeVec
	reloads                      *prometheus.CounterVec
	purged                       *prometheus.CounterVec
	overdue                      *prometheus.GaugeVec

	cluster *clusterMetrics // set by Cluster, on a cluster node

	omu        sync.Mutex
	overdueDue map[string]overdueState // jobs with an expect
}

// overdueState is one job's expected file: whether it is overdue, and the
// due time it was last checked against.
type overdueState struct {
	overdue bool
	due     time.Time
}

// Staging reports the files waiting in staging per job, at scrape time.
type Staging func() (map[string]int, error)

const ns = "exchanged"

// NewMetrics returns the metrics, registered with the Go runtime and process collectors,
// a build-info gauge for version, and a staging gauge read from staging at scrape time
// (nil: none).
func NewMetrics(version string, staging Staging) *Metrics {
	fileLabels := []string{"job", "partner", "step", "outcome"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "files_total",
			Help: "Files that finished a step (stage, transform, deliver, clean, ...), by outcome (ok, failed, rejected)."}, fileLabels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_total",
			Help: "Bytes moved by a step: staged from a source (stage) or delivered to a destination (deliver)."}, fileLabels),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rows_total",
			Help: "CSV rows read by the transform step."}, fileLabels),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rows_rejected_total",
			Help: "CSV rows rejected by the transform step (reported to the creditor)."}, fileLabels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retries_total",
			Help: "Transient failures retried within a run."}, []string{"job", "step"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_total",
			Help: "Finished runs since the daemon started, by outcome (ok, failed, interrupted: cut short by shutdown)."}, []string{"job", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "run_duration_seconds",
			Help:    "How long runs took, by outcome.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600}}, []string{"job", "outcome"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_success_timestamp_seconds",
			Help: "Unix time the job's last successful run finished, from the ledger at start; absent if it never had one."}, []string{"job"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consecutive_failed_runs",
			Help: "Failed runs of the job since its last successful one, from the ledger at start; interrupted runs do not count."}, []string{"job"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Config reloads (SIGHUP), by outcome (ok, failed)."}, []string{"outcome"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "purged_rows_total",
			Help: "Ledger rows removed by the retention purge, by table (files, deliveries, subjects, runs, file_actions, audit)."}, []string{"table"}),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "file_overdue",
			Help: "1 while the job's expected file is overdue (its due time passed and no file was seen that day), else 0; only jobs with an expect."}, []string{"job"}),
		overdueDue: map[string]overdueState{},
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; the version label is the build's."}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.files, m.bytes, m.rows, m.rejected, m.retries, m.runs, m.runDuration,
		m.lastSuccess, m.failing, m.reloads, m.purged, m.overdue, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if staging != nil {
		m.reg.MustRegister(&stagingCollector{read: staging, desc: prometheus.NewDesc(ns+"_staging_files",
			"Files waiting in staging (pulled, not yet delivered to every destination), by job.", []string{"job"}, nil)})
	}
	for _, o := range []string{"ok", "failed"} {
		m.reloads.WithLabelValues(o)
	}
	return m
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// FileStep counts one finished step of one file.
func (m *Metrics) FileStep(job, partner, step, outcome string, bytes int64, rows, rejected int) {
	l := prometheus.Labels{"job": job, "partner": partner, "step": step, "outcome": outcome}
	m.files.With(l).Inc()
	if bytes > 0 {
		m.bytes.With(l).Add(float64(bytes))
	}
	if rows > 0 {
		m.rows.With(l).Add(float64(rows))
	}
	if rejected > 0 {
		m.rejected.With(l).Add(float64(rejected))
	}
}

// Retry counts one transient failure of job's step that is being retried.
func (m *Metrics) Retry(job, step string) { m.retries.WithLabelValues(job, step).Inc() }

// RunOutcomes are the outcomes of a finished run.
var RunOutcomes = []string{"ok", "failed", "interrupted"}

// Job makes the job's series exist before its first run, so that dashboards and alerts
// see zeros rather than nothing: its run counters at 0, its consecutive failed runs
// (consecutiveFailed, from the ledger) and, when it had one (lastSuccess not zero), the
// time of its last successful run from the ledger.
func (m *Metrics) Job(job string, consecutiveFailed int, lastSuccess time.Time) {
	for _, o := range RunOutcomes {
		m.runs.WithLabelValues(job, o)
		m.runDuration.WithLabelValues(job, o)
	}
	m.failing.WithLabelValues(job).Set(float64(consecutiveFailed))
	if !lastSuccess.IsZero() {
		m.lastSuccess.WithLabelValues(job).Set(float64(lastSuccess.UnixNano()) / 1e9)
	}
}

// RunFinished records a finished run of job: its outcome (one of RunOutcomes), how long
// it took, when it finished, and the job's consecutive failed runs counting this one (an
// interrupted run leaves them as they were).
func (m *Metrics) RunFinished(job, outcome string, took time.Duration, at time.Time, consecutiveFailed int) {
	if outcome == "ok" {
		m.lastSuccess.WithLabelValues(job).Set(float64(at.UnixNano()) / 1e9)
	}
	m.runs.WithLabelValues(job, outcome).Inc()
	m.runDuration.WithLabelValues(job, outcome).Observe(took.Seconds())
	m.failing.WithLabelValues(job).Set(float64(consecutiveFailed))
}

// Forget drops the per-job gauges of a job that is gone from the config.
func (m *Metrics) Forget(job string) {
	m.lastSuccess.DeleteLabelValues(job)
	m.failing.DeleteLabelValues(job)
	m.DropOverdue(job)
}

// SetOverdue records whether the expected file of job is overdue, and the
// due time that was checked: the last one passed, zero if none has yet.
func (m *Metrics) SetOverdue(job string, overdue bool, due time.Time) {
	m.omu.Lock()
	defer m.omu.Unlock()
	m.overdueDue[job] = overdueState{overdue: overdue, due: due}
	v := 0.0
	if overdue {
		v = 1
	}
	m.overdue.WithLabelValues(job).Set(v)
}

// DropOverdue forgets the expected file of a job that no longer has one.
func (m *Metrics) DropOverdue(job string) {
	m.omu.Lock()
	defer m.omu.Unlock()
	delete(m.overdueDue, job)
	m.overdue.DeleteLabelValues(job)
}

// Overdue reports whether the expected file of job is overdue, and the due
// time it was checked against (the last one passed; zero when none has
// yet, or when the job expects no file: then overdue is false).
func (m *Metrics) Overdue(job string) (overdue bool, due time.Time) {
	m.omu.Lock()
	defer m.omu.Unlock()
	st := m.overdueDue[job]
	return st.overdue, st.due
}

// Reload counts a config reload.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("failed").Inc()
	}
}

// stagingCollector reads the staging counts at scrape time, so that they are never stale.
type stagingCollector struct {
	read Staging
	desc *prometheus.Desc
}

func (c *stagingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stagingCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for job, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), job)
	}
}

// Purged counts rows the retention purge removed from one ledger table.
func (m *Metrics) Purged(table string, n int) {
	m.purged.WithLabelValues(table).Add(float64(n))
}
