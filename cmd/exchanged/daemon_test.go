package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitFor is how long the daemon tests wait for anything: a start, an event,
// an exit. Nothing is timed; this only bounds a test that would hang.
const waitFor = time.Minute

// proc is the real binary running "exchanged run" in the background.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the ops endpoint, host:port
	done chan struct{}
	code int

	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

// freePort returns a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon starts "exchanged run --config cfg args..." and waits until its
// /readyz answers 200. It is killed when the test ends, if still running.
func startDaemon(t *testing.T, cfg, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, addr: addr, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"run", "--config", cfg}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(waitFor)
	for {
		if code, _ := p.get("/readyz"); code == http.StatusOK {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("exchanged run exited with %d before it was ready:\n%s", p.code, p.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("exchanged run not ready after %s:\n%s", waitFor, p.log())
		}
	}
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// events returns the JSON log events with message msg.
func (p *proc) events(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until at least n events with message msg and the given
// fields were logged, and returns them.
func (p *proc) waitEvents(n int, msg string, fields map[string]any) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var match []map[string]any
	next:
		for _, e := range p.events(msg) {
			for k, v := range fields {
				if fmt.Sprint(e[k]) != fmt.Sprint(v) {
					continue next
				}
			}
			match = append(match, e)
		}
		if len(match) >= n {
			return match
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %d %q events with %v after %s:\n%s", n, msg, fields, waitFor, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) get(path string) (int, string) {
	return p.request(http.MethodGet, path)
}

func (p *proc) request(method, path string) (int, string) {
	req, err := http.NewRequest(method, "http://"+p.addr+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// trigger starts a run of job through the ops endpoint and waits until it
// is wholly done: its n-th "run finished" event, and the n-th run counted
// in the metrics (the daemon's last act for a run).
func (p *proc) trigger(job string, n int) map[string]any {
	p.t.Helper()
	if code, body := p.request(http.MethodPost, "/jobs/"+job+"/run"); code != http.StatusAccepted {
		p.t.Fatalf("POST /jobs/%s/run = %d %s", job, code, body)
	}
	e := p.waitEvents(n, "run finished", map[string]any{"job": job, "logger": nil})[n-1] // the runner's, not the scheduler's
	deadline := time.Now().Add(waitFor)
	for {
		m := p.metrics()
		if m[`exchanged_runs_total{job="`+job+`",outcome="ok"}`]+m[`exchanged_runs_total{job="`+job+`",outcome="failed"}`] >= float64(n) {
			return e
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("run %d of %s not counted after %s", n, job, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the daemon to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitFor):
		p.t.Fatalf("exchanged run did not exit within %s:\n%s", waitFor, p.log())
		return -1
	}
}

// metrics scrapes /metrics and returns each sample's value by its series,
// e.g. `exchanged_files_total{job="a",outcome="ok",partner="b",step="deliver"}`.
func (p *proc) metrics() map[string]float64 {
	p.t.Helper()
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		p.t.Fatalf("GET /metrics = %d", code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			p.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// names lists a directory's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// localConfig writes a config of local partners under work: creditor acme
// (root work/acme) and internal cases (root work/cases), with jobs, and
// returns its path and the ops address.
func localConfig(t *testing.T, work, jobs string) (string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, d := range []string{"acme/outbox", "acme/inbox", "cases/outbox", "cases/inbox"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(work, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
log: {level: debug, format: json}
http: {listen: "%s"}
partners:
  acme: {role: creditor, local: {root: %s}}
  cases: {role: internal, local: {root: %s}}
jobs:
%s`, filepath.Join(work, "state"), addr, filepath.Join(work, "acme"), filepath.Join(work, "cases"), jobs)))
	return cfg, addr
}

const claimsInJob = `  claims-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv", done_marker: ".done"}
    destinations:
      - {partner: cases, dir: /inbox}
`

func TestDaemonOpsEndpoint(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	p := startDaemon(t, cfg, addr)
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ready"},
		{"POST", "/jobs/nope/run", 404, "unknown job"},
		{"GET", "/jobs/claims-in/run", 405, ""},
	} {
		if code, body := p.request(c.method, c.path); code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
	if r := exchanged(t, nil, "health", "--url", "http://"+addr+"/healthz"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("health against a running daemon: %+v", r)
	}
	if r := exchanged(t, nil, "health", "--url", "http://"+addr+"/readyz"); r.code != 0 {
		t.Errorf("health --url .../readyz: %+v", r)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.log())
	}
	p.waitEvents(1, "stopped", nil)
	if r := exchanged(t, nil, "health", "--url", "http://"+addr+"/healthz"); r.code != exitFailed {
		t.Errorf("health against a stopped daemon: %+v", r)
	}
	if r := exchanged(t, nil, "health", "--url", "ftp://"+addr); r.code != exitUsage {
		t.Errorf("health with a non-http URL: %+v", r)
	}
}

// TestDaemonMetrics runs a job that moves two files, one through a
// transform, and checks the scraped counters against what moved.
func TestDaemonMetrics(t *testing.T) {
	work := t.TempDir()
	claims, err := os.ReadFile("../../transform/testdata/claims_canonical.csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg, addr := localConfig(t, work, claimsInJob+`  claims-internal:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox, match: "*.csv", done_marker: ".done"}
    transform: {layout: claim, profile: internal}
    destinations:
      - {partner: cases, dir: /inbox/claims}
`)
	a := bytes.Repeat([]byte("K-1;J. de Vries;1.234,56\r\n"), 1000)
	b := []byte("K-2;P. Bakker;12,00\r\n")
	writeFile(t, filepath.Join(work, "acme/outbox/claims_a.csv"), a)
	writeFile(t, filepath.Join(work, "acme/outbox/claims_a.csv.done"), nil)
	writeFile(t, filepath.Join(work, "acme/outbox/claims_b.csv"), b)
	writeFile(t, filepath.Join(work, "acme/outbox/claims_b.csv.done"), nil)
	writeFile(t, filepath.Join(work, "cases/outbox/c.csv"), claims)
	writeFile(t, filepath.Join(work, "cases/outbox/c.csv.done"), nil)
	os.MkdirAll(filepath.Join(work, "cases/inbox/claims"), 0o755)

	p := startDaemon(t, cfg, addr)
	before := p.metrics()
	if v, ok := before[`exchanged_staging_files{job="claims-in"}`]; !ok || v != 0 {
		t.Errorf("staging gauge before any run = %v, %v; want a 0", v, ok)
	}
	if e := p.trigger("claims-in", 1); e["outcome"] != "ok" {
		t.Fatalf("run: %v", e)
	}
	if e := p.trigger("claims-internal", 1); e["outcome"] != "ok" {
		t.Fatalf("run: %v", e)
	}
	if got := names(t, filepath.Join(work, "cases/inbox")); fmt.Sprint(got) != "[claims claims_a.csv claims_b.csv]" {
		t.Fatalf("inbox = %v", got)
	}
	m := p.metrics()
	series := func(name, job, partner, step, outcome string) string {
		return fmt.Sprintf(`%s{job="%s",outcome="%s",partner="%s",step="%s"}`, name, job, outcome, partner, step)
	}
	ab := float64(len(a) + len(b))
	for _, c := range []struct {
		series string
		want   float64
	}{
		{series("exchanged_files_total", "claims-in", "acme", "stage", "ok"), 2},
		{series("exchanged_bytes_total", "claims-in", "acme", "stage", "ok"), ab},
		{series("exchanged_files_total", "claims-in", "cases", "deliver", "ok"), 2},
		{series("exchanged_bytes_total", "claims-in", "cases", "deliver", "ok"), ab},
		{series("exchanged_files_total", "claims-internal", "cases", "stage", "ok"), 1},
		{series("exchanged_bytes_total", "claims-internal", "cases", "stage", "ok"), float64(len(claims))},
		{series("exchanged_files_total", "claims-internal", "cases", "transform", "ok"), 1},
		{series("exchanged_rows_total", "claims-internal", "cases", "transform", "ok"), 2},
		{series("exchanged_files_total", "claims-internal", "cases", "deliver", "ok"), 1},
		{`exchanged_runs_total{job="claims-in",outcome="ok"}`, 1},
		{`exchanged_runs_total{job="claims-in",outcome="failed"}`, 0},
		{`exchanged_run_duration_seconds_count{job="claims-in",outcome="ok"}`, 1},
		{`exchanged_consecutive_failed_runs{job="claims-in"}`, 0},
		{`exchanged_staging_files{job="claims-in"}`, 0},
		{`exchanged_staging_files{job="claims-internal"}`, 0},
		{`exchanged_build_info{version="dev"}`, 1},
	} {
		if got, ok := m[c.series]; !ok || got != c.want {
			t.Errorf("%s = %v (present %v), want %v", c.series, got, ok, c.want)
		}
	}
	if ts := m[`exchanged_last_success_timestamp_seconds{job="claims-in"}`]; ts < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last success = %v, want about now", ts)
	}
	// Labels are job, partner, step, outcome: never a file name or contents.
	for s := range m {
		for _, bad := range []string{"claims_a", "claims_b", "c.csv", "Vries", "Jansen"} {
			if strings.Contains(s, bad) {
				t.Errorf("series %s carries %q", s, bad)
			}
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
