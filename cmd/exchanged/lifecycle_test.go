package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

// peerConfig writes a config with a local internal partner "cases" (root
// work/cases) and a real OpenSSH peer "acme" (role creditor), plus jobs,
// and returns its path and the ops address.
func peerConfig(t *testing.T, work string, s *sshdtest.Server, jobs string) (string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(work, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
log: {level: debug, format: json}
http: {listen: "%s"}
partners:
  cases: {role: internal, local: {root: %s}}
  acme:
    role: creditor
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", known_hosts: %s}
jobs:
%s`, filepath.Join(work, "state"), addr, filepath.Join(work, "cases"),
		s.Port, s.User, s.ClientKeyPath, s.KnownHostsPath, jobs)))
	return cfg, addr
}

// paymentsJob sends files from cases:/outbox/acme to acme's inbox dir.
func paymentsJob(inbox string) string {
	return fmt.Sprintf(`  payments-out:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox/acme, match: "*.csv", done_marker: ".done"}
    destinations:
      - {partner: acme, dir: %s}
`, inbox)
}

// waitPart waits until an upload's temp file with some bytes in it stands
// in dir: a transfer is under way.
func waitPart(t *testing.T, p *proc, dir string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".part") {
				if fi, err := e.Info(); err == nil && fi.Size() > 0 {
					return
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no upload under way in %s after %s:\n%s", dir, waitFor, p.log())
}

// TestDaemonSignalsDuringTransfer sends signals to the real binary while it
// uploads a large file to a real OpenSSH peer. A partner never sees a
// partial file under its final name, and the file arrives exactly once:
// within the drain, or on the next run after a cut-short drain or a second
// signal.
func TestDaemonSignalsDuringTransfer(t *testing.T) {
	s := sshdtest.Start(t)
	big := bytes.Repeat([]byte("K-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n"), 3_000_000) // ~135 MB
	for _, c := range []struct {
		name    string
		drain   string
		signals []syscall.Signal
		code    int
		inDrain bool // delivered before the daemon exits
	}{
		{"drain lets it finish", "5m", []syscall.Signal{syscall.SIGTERM}, 0, true},
		{"drain cut short", "1ms", []syscall.Signal{syscall.SIGTERM}, 0, false},
		{"second signal", "5m", []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}, exitFailed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			inbox := filepath.Join(s.Root, strings.ReplaceAll(c.name, " ", "-"))
			os.MkdirAll(inbox, 0o755)
			writeFile(t, filepath.Join(work, "cases/outbox/acme/big.csv"), big)
			writeFile(t, filepath.Join(work, "cases/outbox/acme/big.csv.done"), nil)
			cfg, addr := peerConfig(t, work, s, paymentsJob(inbox))

			p := startDaemon(t, cfg, addr, "--drain", c.drain)
			if code, body := p.request(http.MethodPost, "/jobs/payments-out/run"); code != http.StatusAccepted {
				t.Fatalf("trigger = %d %s", code, body)
			}
			waitPart(t, p, inbox)
			if code, body := p.request(http.MethodPost, "/jobs/payments-out/run"); code != http.StatusConflict {
				t.Errorf("trigger while running = %d %s, want 409", code, body)
			}
			for _, sig := range c.signals {
				p.signal(sig)
			}
			if code := p.wait(); code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", code, c.code, p.log())
			}
			assertNoPartialFinals(t, inbox, map[string][]byte{"big.csv": big})
			if _, err := os.Stat(filepath.Join(inbox, "big.csv")); (err == nil) != c.inDrain {
				t.Fatalf("delivered before exit: %v, want %v", err == nil, c.inDrain)
			}
			if c.inDrain {
				if e := p.waitEvents(1, "run finished", map[string]any{"logger": nil})[0]; e["outcome"] != "ok" {
					t.Fatalf("run in drain: %v", e)
				}
			}

			r := exchanged(t, nil, "once", "--config", cfg, "payments-out")
			if r.code != 0 {
				t.Fatalf("run after restart: exit %d\n%s", r.code, r.stderr)
			}
			if got := names(t, inbox); fmt.Sprint(got) != "[big.csv]" {
				t.Fatalf("inbox = %v, want exactly big.csv", got)
			}
			if got, _ := os.ReadFile(filepath.Join(inbox, "big.csv")); !bytes.Equal(got, big) {
				t.Fatalf("delivered file differs: %d of %d bytes", len(got), len(big))
			}
			if st := names(t, filepath.Join(work, "state", "staging")); len(st) != 0 {
				t.Fatalf("staging left with %v", st)
			}
		})
	}
}

// TestDaemonReload sends SIGHUP to the real binary: a broken config is
// logged and the old jobs keep running; a config that moves state_dir is
// refused; a valid changed config brings its new job.
func TestDaemonReload(t *testing.T) {
	s := sshdtest.Start(t)
	work := t.TempDir()
	inbox := filepath.Join(s.Root, "inbox")
	os.MkdirAll(inbox, 0o755)
	os.MkdirAll(filepath.Join(work, "cases/outbox/acme"), 0o755)
	cfg, addr := peerConfig(t, work, s, paymentsJob(inbox))
	good, _ := os.ReadFile(cfg)
	p := startDaemon(t, cfg, addr)

	// A broken config: the error is logged, naming the problem, and the
	// old jobs still run.
	writeFile(t, cfg, append(bytes.Clone(good), []byte("    bogus_key: 1\n")...))
	p.signal(syscall.SIGHUP)
	ev := p.waitEvents(1, "config reload failed", nil)[0]
	if ev["level"] != "error" || !strings.Contains(fmt.Sprint(ev["error"]), "bogus_key: unknown key") {
		t.Fatalf("reload failure event = %v", ev)
	}
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv"), []byte("one\n"))
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv.done"), nil)
	if e := p.trigger("payments-out", 1); e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("old job after a failed reload: %v", e)
	}
	if got, _ := os.ReadFile(filepath.Join(inbox, "p1.csv")); string(got) != "one\n" {
		t.Fatal("old job did not deliver after a failed reload")
	}

	// state_dir cannot change without a restart.
	moved := strings.Replace(string(good), filepath.Join(work, "state"), filepath.Join(work, "state2"), 1)
	writeFile(t, cfg, []byte(moved))
	p.signal(syscall.SIGHUP)
	ev = p.waitEvents(2, "config reload failed", nil)[1]
	if !strings.Contains(fmt.Sprint(ev["error"]), "state_dir: changed") || !strings.Contains(fmt.Sprint(ev["error"]), "restart") {
		t.Fatalf("state_dir change event = %v", ev)
	}

	// A valid changed config: a new job, the old one still there.
	inbox2 := filepath.Join(s.Root, "inbox2")
	os.MkdirAll(inbox2, 0o755)
	os.MkdirAll(filepath.Join(work, "cases/outbox/acme2"), 0o755)
	writeFile(t, cfg, append(bytes.Clone(good), []byte(fmt.Sprintf(`  status-out:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox/acme2, match: "*.txt", done_marker: ".done"}
    destinations:
      - {partner: acme, dir: %s}
`, inbox2))...))
	p.signal(syscall.SIGHUP)
	if e := p.waitEvents(1, "config reloaded", nil)[0]; e["jobs"] != 2.0 {
		t.Fatalf("reload event = %v", e)
	}
	writeFile(t, filepath.Join(work, "cases/outbox/acme2/s1.txt"), []byte("status\n"))
	writeFile(t, filepath.Join(work, "cases/outbox/acme2/s1.txt.done"), nil)
	if e := p.trigger("status-out", 1); e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("new job: %v", e)
	}
	if got, _ := os.ReadFile(filepath.Join(inbox2, "s1.txt")); string(got) != "status\n" {
		t.Fatal("new job did not deliver")
	}
	if e := p.trigger("payments-out", 2); e["outcome"] != "ok" {
		t.Fatalf("old job after reload: %v", e)
	}
	m := p.metrics()
	if m[`exchanged_config_reloads_total{outcome="failed"}`] != 2 || m[`exchanged_config_reloads_total{outcome="ok"}`] != 1 {
		t.Errorf("reload counters: failed %v ok %v", m[`exchanged_config_reloads_total{outcome="failed"}`], m[`exchanged_config_reloads_total{outcome="ok"}`])
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestDaemonStartupFailsFast: a bad config or a state_dir that cannot be
// written stops "exchanged run" before it starts, with a clear message.
func TestDaemonStartupFailsFast(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	good, _ := os.ReadFile(cfg)

	writeFile(t, cfg, bytes.Replace(good, []byte(`"@yearly"`), []byte(`"@sometimes"`), 1))
	r := exchanged(t, nil, "run", "--config", cfg)
	if r.code != exitUsage || !strings.Contains(r.stderr, "jobs.claims-in.schedule") {
		t.Fatalf("bad schedule: %+v", r)
	}

	// state_dir under a regular file: it can never be made.
	file := filepath.Join(work, "a-file")
	writeFile(t, file, nil)
	writeFile(t, cfg, bytes.Replace(good, []byte(filepath.Join(work, "state")), []byte(filepath.Join(file, "state")), 1))
	r = exchanged(t, nil, "run", "--config", cfg)
	if r.code != exitFailed || !strings.Contains(r.stderr, "state_dir "+filepath.Join(file, "state")) {
		t.Fatalf("state_dir under a file: %+v", r)
	}

	// A read-only state_dir.
	ro := filepath.Join(work, "ro")
	os.MkdirAll(ro, 0o500)
	if os.Geteuid() == 0 {
		ro = readOnlyMount(t)
	}
	writeFile(t, cfg, bytes.Replace(good, []byte(filepath.Join(work, "state")), []byte(ro), 1))
	r = exchanged(t, nil, "run", "--config", cfg)
	if r.code != exitFailed || !strings.Contains(r.stderr, "not writable") {
		t.Fatalf("read-only state_dir: %+v", r)
	}

	// The ops port taken.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	writeFile(t, cfg, good)
	r = exchanged(t, nil, "run", "--config", cfg)
	if r.code != exitFailed || !strings.Contains(r.stderr, "http.listen") {
		t.Fatalf("port taken: %+v", r)
	}
}

// readOnlyMount mounts a read-only tmpfs (root sees through permission
// bits). Under CI=true it must work; elsewhere the caller's test skips.
func readOnlyMount(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs a tmpfs for this test: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestDaemonAlertOnce: a job whose peer stays down logs one "job failing"
// error event when its failed runs in a row reach runs.alert_after, not one
// per run, not again after a restart, and one "job recovered" when a run
// succeeds again; the file waits in staging meanwhile and arrives once.
func TestDaemonAlertOnce(t *testing.T) {
	s := sshdtest.Start(t)
	work := t.TempDir()
	inbox := filepath.Join(s.Root, "inbox")
	os.MkdirAll(inbox, 0o755)
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv"), []byte("payment\n"))
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv.done"), nil)
	cfg, addr := peerConfig(t, work, s, paymentsJob(inbox))
	b, _ := os.ReadFile(cfg)
	writeFile(t, cfg, append(b, []byte("runs: {alert_after: 2, retry: {attempts: 1}}\n")...))
	s.Stop()

	p := startDaemon(t, cfg, addr)
	for i := 1; i <= 3; i++ {
		if e := p.trigger("payments-out", i); e["outcome"] != "failed" {
			t.Fatalf("run %d with the peer down: %v", i, e)
		}
		want := 0
		if i >= 2 {
			want = 1
		}
		if n := len(p.events("job failing")); n != want {
			t.Fatalf("after %d failed runs: %d 'job failing' events, want %d", i, n, want)
		}
	}
	ev := p.events("job failing")[0]
	if ev["level"] != "error" || ev["job"] != "payments-out" || ev["failed_runs"] != 2.0 {
		t.Fatalf("alert event = %v", ev)
	}
	m := p.metrics()
	if m[`exchanged_consecutive_failed_runs{job="payments-out"}`] != 3 || m[`exchanged_runs_total{job="payments-out",outcome="failed"}`] != 3 ||
		m[`exchanged_staging_files{job="payments-out"}`] != 1 {
		t.Fatalf("metrics: failing %v, failed runs %v, staging %v", m[`exchanged_consecutive_failed_runs{job="payments-out"}`],
			m[`exchanged_runs_total{job="payments-out",outcome="failed"}`], m[`exchanged_staging_files{job="payments-out"}`])
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// After a restart the count goes on from the ledger, and the job,
	// alerted on already, is not alerted on again.
	p = startDaemon(t, cfg, addr)
	if v := p.metrics()[`exchanged_consecutive_failed_runs{job="payments-out"}`]; v != 3 {
		t.Fatalf("failed runs after restart = %v, want 3 from the ledger", v)
	}
	if e := p.trigger("payments-out", 1); e["outcome"] != "failed" {
		t.Fatalf("run 4: %v", e)
	}
	if n := len(p.events("job failing")); n != 0 {
		t.Fatalf("alerted again after a restart: %d events", n)
	}
	s.Restart(t)
	if e := p.trigger("payments-out", 2); e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("run with the peer back: %v", e)
	}
	// The event is logged before the run is counted, but the log reaches
	// the test through a pipe: wait for it rather than read it at once.
	rec := p.waitEvents(1, "job recovered", nil)
	if len(rec) != 1 || rec[0]["failed_runs"] != 4.0 {
		t.Fatalf("recovery events = %v", rec)
	}
	if got, _ := os.ReadFile(filepath.Join(inbox, "p1.csv")); string(got) != "payment\n" {
		t.Fatal("file not delivered after recovery")
	}
	m = p.metrics()
	if m[`exchanged_consecutive_failed_runs{job="payments-out"}`] != 0 || m[`exchanged_staging_files{job="payments-out"}`] != 0 {
		t.Fatalf("after recovery: failing %v, staging %v", m[`exchanged_consecutive_failed_runs{job="payments-out"}`], m[`exchanged_staging_files{job="payments-out"}`])
	}
	if e := p.trigger("payments-out", 3); e["outcome"] != "ok" || len(p.events("job recovered")) != 1 {
		t.Fatalf("a second good run: %v; recovery events %d", e, len(p.events("job recovered")))
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestDaemonHoldsStateDir: "once" on the state_dir of a running daemon is
// refused, naming why; once the daemon is gone it runs.
func TestDaemonHoldsStateDir(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	p := startDaemon(t, cfg, addr)
	r := exchanged(t, nil, "once", "--config", cfg, "claims-in")
	if r.code != exitFailed || !strings.Contains(r.stderr, "state_dir is in use by another exchanged process") {
		t.Fatalf("once beside the daemon: %+v", r)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in"); r.code != 0 {
		t.Fatalf("once after the daemon stopped: %+v", r)
	}
}
