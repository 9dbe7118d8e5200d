package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

// crashSteps are the step boundaries of exchange's failpoints, in the
// order a file meets them.
var crashSteps = []string{"seen", "staged-unrecorded", "staged", "cleaned", "transformed",
	"uploading", "uploaded", "renamed", "delivered", "unstaged"}

// crashJob is the crash tests' job (for crashSetup): claims_*.csv,
// each with its .done marker, from acme's OUTBOX to dest's INBOX unchanged.
const crashJob = `
  claims-in:
    schedule: "@hourly"
    source: {partner: acme, dir: OUTBOX, match: "claims_*.csv", done_marker: ".done", after: delete}
    destinations:
      - {partner: dest, dir: INBOX, done_marker: ".ok"}
`

// TestCrashAtEveryStep kills the real binary with SIGKILL at each step
// boundary in turn, between a real OpenSSH source and a real OpenSSH
// destination, then restarts it: every file must arrive exactly once,
// none may be lost, and no partial file may ever stand under a final name.
func TestCrashAtEveryStep(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	files := map[string][]byte{
		"claims_a.csv": bytes.Repeat([]byte("K-1;J. de Vries;1.234,56\r\n"), 40000), // ~1 MB
		"claims_b.csv": []byte("K-2;P. Bakker;12,00\r\n"),
	}
	for _, step := range crashSteps {
		t.Run(step, func(t *testing.T) {
			cfg, outbox, inbox, work := crashSetup(t, src, dst, files, "internal", crashJob)

			r := exchanged(t, []string{"EXCHANGED_CRASH_AT=" + step}, "once", "--config", cfg, "claims-in")
			if r.signal != "killed" {
				t.Fatalf("run with EXCHANGED_CRASH_AT=%s was not killed: %+v", step, r)
			}
			assertNoPartialFinals(t, inbox, files)

			r = exchanged(t, nil, "once", "--config", cfg, "claims-in")
			if r.code != 0 {
				t.Fatalf("restart after a crash at %s: exit %d\n%s", step, r.code, r.stderr)
			}
			assertNoPartialFinals(t, inbox, files)
			assertInbox(t, inbox, files, "claims_a.csv claims_a.csv.ok claims_b.csv claims_b.csv.ok")
			if left, _ := os.ReadDir(outbox); len(left) != 0 {
				t.Errorf("source left with %d entries", len(left))
			}
			if st, _ := os.ReadDir(filepath.Join(work, "state", "staging")); len(st) != 0 {
				t.Errorf("staging not empty: %d entries", len(st))
			}
			// A third run finds nothing and delivers nothing again.
			r = exchanged(t, nil, "once", "--config", cfg, "claims-in")
			if r.code != 0 || strings.Contains(r.stderr, `"msg":"file delivered"`) {
				t.Fatalf("third run delivered again or failed: %+v", r)
			}
		})
	}
}

// assertInbox checks that inbox holds exactly the entries want names (in
// order, space-separated), and that each of files stands there whole.
func assertInbox(t *testing.T, inbox string, files map[string][]byte, want string) {
	t.Helper()
	ents, _ := os.ReadDir(inbox)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("inbox = %q, want %q (exactly once, no temp files)", got, want)
	}
	for name, data := range files {
		if got, _ := os.ReadFile(filepath.Join(inbox, name)); !bytes.Equal(got, data) {
			t.Errorf("%s differs", name)
		}
	}
}

// assertNoPartialFinals checks that every file under a final name is whole.
func assertNoPartialFinals(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && !bytes.Equal(got, data) {
			t.Fatalf("partial file under its final name %s: %d of %d bytes", name, len(got), len(data))
		}
	}
}

// crashSetup makes a work dir for one crash run: files, each with its
// ".done" marker, in outbox at partner acme (a creditor on src), an empty
// inbox at partner dest (of role destRole, on dst), and a config with the
// jobs of job, in which OUTBOX and INBOX stand for those dirs.
func crashSetup(t testing.TB, src, dst *sshdtest.Server, files map[string][]byte, destRole, job string) (cfg, outbox, inbox, work string) {
	t.Helper()
	work = t.TempDir()
	outbox, inbox = filepath.Join(work, "outbox"), filepath.Join(work, "inbox")
	for name, data := range files {
		writeFile(t, filepath.Join(outbox, name), data)
		writeFile(t, filepath.Join(outbox, name+".done"), nil)
	}
	os.MkdirAll(inbox, 0o755)
	cfg = filepath.Join(work, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
log: {level: debug, format: json}
partners:
  acme:
    role: creditor
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", known_hosts: %s}
  dest:
    role: %s
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", known_hosts: %s}
jobs:%s`, filepath.Join(work, "state"), src.Port, src.User, src.ClientKeyPath, src.KnownHostsPath,
		destRole, dst.Port, dst.User, dst.ClientKeyPath, dst.KnownHostsPath,
		strings.NewReplacer("OUTBOX", outbox, "INBOX", inbox).Replace(job))))
	return cfg, outbox, inbox, work
}
