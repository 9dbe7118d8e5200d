package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/exchanged/exchanged/schedule"
)

func TestMetricsCount(t *testing.T) {
	m := NewMetrics("v1.2.3", func() (map[string]int, error) { return map[string]int{"claims-in": 2}, nil })
	m.Job("claims-in", 0, time.Time{})
	m.FileStep("claims-in", "acme", "stage", "ok", 1000, 0, 0)
	m.FileStep("claims-in", "acme", "stage", "ok", 24, 0, 0)
	m.FileStep("claims-in", "acme", "transform", "ok", 0, 10, 2)
	m.FileStep("claims-in", "cases", "deliver", "failed", 0, 0, 0)
	m.Retry("claims-in", "deliver")
	m.RunFinished("claims-in", "failed", time.Second, time.Unix(100, 0), 1)
	m.RunFinished("claims-in", "interrupted", time.Second, time.Unix(150, 0), 1)
	m.RunFinished("claims-in", "ok", 2*time.Second, time.Unix(200, 0), 0)

	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.files.WithLabelValues("claims-in", "acme", "stage", "ok")), 2, "files staged"},
		{testutil.ToFloat64(m.bytes.WithLabelValues("claims-in", "acme", "stage", "ok")), 1024, "bytes staged"},
		{testutil.ToFloat64(m.rows.WithLabelValues("claims-in", "acme", "transform", "ok")), 10, "rows"},
		{testutil.ToFloat64(m.rejected.WithLabelValues("claims-in", "acme", "transform", "ok")), 2, "rows rejected"},
		{testutil.ToFloat64(m.files.WithLabelValues("claims-in", "cases", "deliver", "failed")), 1, "deliveries failed"},
		{testutil.ToFloat64(m.retries.WithLabelValues("claims-in", "deliver")), 1, "retries"},
		{testutil.ToFloat64(m.runs.WithLabelValues("claims-in", "ok")), 1, "runs ok"},
		{testutil.ToFloat64(m.runs.WithLabelValues("claims-in", "failed")), 1, "runs failed"},
		{testutil.ToFloat64(m.runs.WithLabelValues("claims-in", "interrupted")), 1, "runs interrupted"},
		{testutil.ToFloat64(m.lastSuccess.WithLabelValues("claims-in")), 200, "last success"},
		{testutil.ToFloat64(m.failing.WithLabelValues("claims-in")), 0, "consecutive failed runs"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(`
# HELP exchanged_staging_files Files waiting in staging (pulled, not yet delivered to every destination), by job.
# TYPE exchanged_staging_files gauge
exchanged_staging_files{job="claims-in"} 2
`), "exchanged_staging_files"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.reg); err != nil || n == 0 {
		t.Errorf("gather: %d metrics, %v", n, err)
	}
}

// TestMetricsFromLedger: a job's series exist from the start, its counters at 0 for every
// outcome, with the last success and the failed-run count the ledger had; a job that never
// succeeded has no last success, rather than a false 1970.
func TestMetricsFromLedger(t *testing.T) {
	m := NewMetrics("dev", nil)
	m.Job("claims-in", 2, time.Unix(1_700_000_000, 0))
	m.Job("new-job", 0, time.Time{})
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(`
# HELP exchanged_runs_total Finished runs since the daemon started, by outcome (ok, failed, interrupted: cut short by shutdown).
# TYPE exchanged_runs_total counter
exchanged_runs_total{job="claims-in",outcome="failed"} 0
exchanged_runs_total{job="claims-in",outcome="interrupted"} 0
exchanged_runs_total{job="claims-in",outcome="ok"} 0
exchanged_runs_total{job="new-job",outcome="failed"} 0
exchanged_runs_total{job="new-job",outcome="interrupted"} 0
exchanged_runs_total{job="new-job",outcome="ok"} 0
# HELP exchanged_last_success_timestamp_seconds Unix time the job's last successful run finished, from the ledger at start; absent if it never had one.
# TYPE exchanged_last_success_timestamp_seconds gauge
exchanged_last_success_timestamp_seconds{job="claims-in"} 1.7e+09
# HELP exchanged_consecutive_failed_runs Failed runs of the job since its last successful one, from the ledger at start; interrupted runs do not count.
# TYPE exchanged_consecutive_failed_runs gauge
exchanged_consecutive_failed_runs{job="claims-in"} 2
exchanged_consecutive_failed_runs{job="new-job"} 0
`), "exchanged_runs_total", "exchanged_last_success_timestamp_seconds", "exchanged_consecutive_failed_runs"); err != nil {
		t.Error(err)
	}
	m.RunFinished("claims-in", "interrupted", time.Second, time.Unix(1_700_000_100, 0), 2)
	if v := testutil.ToFloat64(m.lastSuccess.WithLabelValues("claims-in")); v != 1.7e9 {
		t.Errorf("last success after an interrupted run = %v, want the ledger's", v)
	}
}

// TestLabelsCarryNoFileNames: the only label names are job, partner, step, outcome (and
// version on build_info).
func TestLabelNames(t *testing.T) {
	m := NewMetrics("dev", nil)
	m.Job("j", 0, time.Time{})
	m.FileStep("j", "p", "stage", "ok", 1, 1, 1)
	m.Retry("j", "stage")
	m.RunFinished("j", "ok", time.Second, time.Now(), 0)
	m.Reload(true)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"job": true, "partner": true, "step": true, "outcome": true, "version": true}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "exchanged_") {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if !allowed[lp.GetName()] && lp.GetName() != "le" {
					t.Errorf("%s has label %q", mf.GetName(), lp.GetName())
				}
			}
		}
	}
}

func TestServer(t *testing.T) {
	var ready error = errors.New("ledger not open")
	triggered := []string{}
	h := &Handler{
		Metrics: NewMetrics("dev", nil),
		Ready:   func() error { return ready },
		Trigger: func(job string) error {
			switch job {
			case "busy":
				return fmt.Errorf("%w: busy", schedule.ErrRunning)
			case "claims-in":
				triggered = append(triggered, job)
				return nil
			}
			return fmt.Errorf("%w: %q", schedule.ErrUnknownJob, job)
		},
	}
	s, err := Listen("127.0.0.1:0", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr()
	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 503, "ledger not open"},
		{"GET", "/metrics", 200, "exchanged_build_info"},
		{"POST", "/jobs/claims-in/run", 202, "started"},
		{"POST", "/jobs/busy/run", 409, "running"},
		{"POST", "/jobs/nope/run", 404, "unknown job"},
		{"GET", "/jobs/claims-in/run", 405, ""},
		{"GET", "/nothing", 404, ""},
	} {
		code, body := do(c.method, c.path)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
	ready = nil
	if code, _ := do("GET", "/readyz"); code != 200 {
		t.Errorf("readyz when ready = %d", code)
	}
	if len(triggered) != 1 {
		t.Errorf("triggered %v, want claims-in once", triggered)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestListenTaken(t *testing.T) {
	s, err := Listen("127.0.0.1:0", &Handler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := Listen(s.Addr(), &Handler{}, nil); err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("second listen on %s = %v, want an error naming http.listen", s.Addr(), err)
	}
}
