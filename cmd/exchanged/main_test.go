package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/pgtest"
)

// binary is the exchanged binary the lifecycle tests run, built once with
// the crashtest tag, so that the crash tests can kill it at a step
// boundary (EXCHANGED_CRASH_AT; see internal/crash).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exchanged-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "exchanged")
	out, err := exec.Command("go", "build", "-tags", "crashtest", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build exchanged: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Main(m) // m.Run, then the tests' PostgreSQL stops
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how one run of the binary ended.
type result struct {
	code   int // exit code, -1 when killed by a signal
	signal string
	stdout string
	stderr string
	cpu    time.Duration // user + system
}

// exchanged runs the binary with args and env, bounded in time.
func exchanged(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runBinary(t, binary, env, args...)
}

// runBinary runs the exchanged binary bin with args and env, bounded in time.
func runBinary(t testing.TB, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		r.code = cmd.ProcessState.ExitCode()
		if r.code == -1 {
			r.signal = strings.TrimPrefix(cmd.ProcessState.String(), "signal: ")
		}
	} else if err != nil {
		t.Fatalf("exchanged %v: %v", args, err)
	}
	return r
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUsageAndExitCodes(t *testing.T) {
	if r := exchanged(t, nil); r.code != exitUsage || !strings.Contains(r.stderr, "usage: exchanged") {
		t.Fatalf("no args: %+v", r)
	}
	if r := exchanged(t, nil, "bogus"); r.code != exitUsage || !strings.Contains(r.stderr, `unknown command "bogus"`) {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := exchanged(t, nil, "config", "validate"); r.code != exitUsage || !strings.Contains(r.stderr, "--config is required") {
		t.Fatalf("no --config: %+v", r)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, []byte("version: 1\nstate_dir: /tmp/x\npartners: {a: {role: creditor, local: {root: /tmp}, extra: 1}}\njobs: {}\n"))
	r := exchanged(t, nil, "config", "validate", "--config", bad)
	if r.code != exitUsage || !strings.Contains(r.stderr, "partners.a.extra: unknown key") {
		t.Fatalf("unknown key: %+v", r)
	}
}

func TestDemo(t *testing.T) {
	r := exchanged(t, nil, "demo", "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("demo: %+v", r)
	}
	for _, want := range []string{
		"job acme-claims-in       files 2, deliveries 3, bytes staged 664: ok",
		"job handover-jansen      files 1, deliveries 1, bytes staged 508: ok",
		"job acme-payments-out    files 1, deliveries 1, bytes staged 155: ok",
		"/inbox/claims/claims_2026-11-20.csv",
		"/inbox/rejects/claims_2026-11-21.rejects.csv",
		"/in/handover_2026-11-20.csv.done",
		"/inbox/payments/payments_2026-11-20.csv.sha256",
		"staging: 0 file(s) left",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, `"msg":"file delivered"`) {
		t.Errorf("demo log has no JSON delivery event:\n%s", r.stderr)
	}
	// The bailiff's file has only the bailiff profile's columns.
	i := strings.Index(r.stdout, "/in/handover_2026-11-20.csv ")
	if i < 0 {
		t.Fatal("no handover in the demo output")
	}
	cols := r.stdout[i:]
	cols = cols[strings.Index(cols, "columns: ")+9:]
	cols = cols[:strings.Index(cols, "\n")]
	for _, never := range []string{"email", "phone", "iban"} {
		if strings.Contains(cols, never) {
			t.Errorf("bailiff received column %q: %s", never, cols)
		}
	}
	// The BSN file is a security event naming the column, not the value.
	if !strings.Contains(r.stderr, `"security":true`) || strings.Contains(r.stderr, "111222333") || strings.Contains(r.stderr, "Jan Smit") {
		t.Errorf("BSN rejection: want a security event without personal data")
	}
}
