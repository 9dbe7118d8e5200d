package main

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestDaemonMetricsHonestAcrossRestarts runs the real binary against a real
// OpenSSH peer: after a restart /metrics has the job's last success and its
// failed-run count from the ledger, and its run counters at 0; a run cut short
// by SIGTERM is "interrupted", logged once, and leaves
// consecutive_failed_runs (and alert_after) as they were.
func TestDaemonMetricsHonestAcrossRestarts(t *testing.T) {
	const (
		job     = `payments-out`
		failing = `exchanged_consecutive_failed_runs{job="payments-out"}`
		last    = `exchanged_last_success_timestamp_seconds{job="payments-out"}`
	)
	s := sshdtest.Start(t)
	work := t.TempDir()
	inbox := filepath.Join(s.Root, "inbox")
	os.MkdirAll(inbox, 0o755)
	outbox := filepath.Join(work, "cases/outbox/acme")
	writeFile(t, filepath.Join(outbox, "p1.csv"), []byte("payment\n"))
	writeFile(t, filepath.Join(outbox, "p1.csv.done"), nil)
	cfg, addr := peerConfig(t, work, s, paymentsJob(inbox))
	b, _ := os.ReadFile(cfg)
	writeFile(t, cfg, append(b, []byte("runs: {alert_after: 2, retry: {attempts: 1}}\n")...))

	// A good run, then a failed one with the peer down: a large file waits in staging.
	p := startDaemon(t, cfg, addr, "--drain", "1ms")
	if e := p.trigger(job, 1); e["outcome"] != "ok" {
		t.Fatalf("run 1: %v", e)
	}
	okAt := p.metrics()[last]
	if okAt == 0 {
		t.Fatalf("no last success after a good run:\n%s", p.log())
	}
	s.Stop()
	big := bytes.Repeat([]byte("K-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n"), 3_000_000) // ~135 MB
	writeFile(t, filepath.Join(outbox, "big.csv"), big)
	writeFile(t, filepath.Join(outbox, "big.csv.done"), nil)
	if e := p.trigger(job, 2); e["outcome"] != "failed" {
		t.Fatalf("run 2 with the peer down: %v", e)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}

	// After a restart: the ledger's last success and failed-run count, counters at 0.
	s.Restart(t)
	p = startDaemon(t, cfg, addr, "--drain", "1ms")
	m := p.metrics()
	if math.Abs(m[last]-okAt) > 1 || m[failing] != 1 {
		t.Fatalf("after restart: last success %v (was %v), failed runs %v, want 1", m[last], okAt, m[failing])
	}
	for _, o := range []string{"ok", "failed", "interrupted"} {
		if v, ok := m[`exchanged_runs_total{job="payments-out",outcome="`+o+`"}`]; !ok || v != 0 {
			t.Errorf("runs_total %s after restart = %v, %v; want 0, present", o, v, ok)
		}
	}

	// SIGTERM while the big file uploads, with a drain too short to finish it.
	if code, body := p.request(http.MethodPost, "/jobs/"+job+"/run"); code != http.StatusAccepted {
		t.Fatalf("trigger = %d %s", code, body)
	}
	waitPart(t, p, inbox)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	fin := p.events("run finished")
	if len(fin) != 1 || fin[0]["outcome"] != "interrupted" || fin[0]["level"] != "warn" {
		t.Fatalf("run finished events = %v, want one, interrupted", fin)
	}
	if n := len(p.events("job failing")); n != 0 {
		t.Fatalf("an interrupted run counted towards alert_after: %d 'job failing' events", n)
	}

	p = startDaemon(t, cfg, addr)
	m = p.metrics()
	if m[failing] != 1 || math.Abs(m[last]-okAt) > 1 {
		t.Fatalf("after the interrupted run: failed runs %v, want 1; last success %v, want %v", m[failing], m[last], okAt)
	}
	if e := p.trigger(job, 1); e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("run after restart: %v", e)
	}
	if m = p.metrics(); m[failing] != 0 || m[last] <= okAt {
		t.Fatalf("after a good run: failed runs %v, last success %v (was %v)", m[failing], m[last], okAt)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
