package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// claimsJob is a job that takes claims_*.csv from acme and delivers them
// to dest in temp mode (see crashSetup).
const claimsJob = `
  claims-in:
    schedule: "@hourly"
    source: {partner: acme, dir: OUTBOX, match: "claims_*.csv", done_marker: ".done", after: delete}
    destinations:
      - {partner: dest, dir: INBOX}
`

// stagedFiles returns every regular file under dir, by path, with its raw
// bytes.
func stagedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, rerr := os.ReadFile(p)
			if rerr != nil {
				t.Fatal(rerr)
			}
			out[p] = b
		}
		return nil
	})
	return out
}

// TestStagingSealedAtRest runs the real binary between two real OpenSSH
// servers and stops it (failpoint) once a file is staged: nothing under
// state_dir/staging holds the file's plaintext, the generated key is 0600
// beside staging. A flipped byte, then a wrong key, fail authentication:
// the file stays pending, with an error event naming it, and nothing of
// it reaches the partner, in temp mode or in direct mode. Restored, it
// is delivered whole. A copy replaced by plaintext, as a version before
// sealing staged it, is sealed at start and delivered.
func TestStagingSealedAtRest(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	const marker = "Zeldzaamstraat-4242"
	data := bytes.Repeat([]byte("K-1;J. de Vries;"+marker+";1.234,56\r\n"), 30000) // ~1.2 MB, 19 chunks
	files := map[string][]byte{"claims_a.csv": data}
	cfg, _, inbox, work := crashSetup(t, src, dst, files, "internal", `
  claims-in:
    schedule: "@hourly"
    source: {partner: acme, dir: OUTBOX, match: "claims_*.csv", done_marker: ".done", after: delete}
    destinations:
      - {partner: dest, dir: INBOX}
      - {partner: dest, dir: INBOX/direct, upload: direct}
`)
	os.MkdirAll(filepath.Join(inbox, "direct"), 0o755)
	state := filepath.Join(work, "state")
	staging := filepath.Join(state, "staging")

	r := exchanged(t, []string{"EXCHANGED_CRASH_AT=staged"}, "once", "--config", cfg, "claims-in")
	if r.signal != "killed" {
		t.Fatalf("run with EXCHANGED_CRASH_AT=staged was not killed: %+v", r)
	}
	staged := stagedFiles(t, staging)
	if len(staged) != 1 {
		t.Fatalf("staging holds %d files, want the one source copy", len(staged))
	}
	var copyPath string
	var sealed []byte
	for p, b := range staged {
		copyPath, sealed = p, b
	}
	if bytes.Contains(sealed, []byte(marker)) || !bytes.HasPrefix(sealed, []byte(seal.Magic)) {
		t.Fatalf("%s holds plaintext at rest (%d bytes)", copyPath, len(sealed))
	}
	keyPath := filepath.Join(state, "staging.key")
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key %s: %v, want mode 0600", keyPath, err)
	}

	refused := func(why string) {
		t.Helper()
		r := exchanged(t, nil, "once", "--config", cfg, "claims-in")
		if r.code == 0 || !strings.Contains(r.stderr, "authentication failed") || !strings.Contains(r.stderr, why) ||
			!strings.Contains(r.stderr, `"security":true`) || !strings.Contains(r.stderr, "staging: file 1, its copy") {
			t.Fatalf("run over a staged file that fails authentication (%s): exit %d\n%s", why, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, marker) {
			t.Fatal("the log holds the file's contents")
		}
		for _, dir := range []string{inbox, filepath.Join(inbox, "direct")} {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Type().IsRegular() {
					t.Fatalf("%s reached the partner from a staged file that fails authentication", filepath.Join(dir, e.Name()))
				}
			}
		}
	}

	// A flipped byte halfway: authenticated chunks before it were sent to
	// the temp file, which is removed; direct mode sends nothing.
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 0x01
	writeFile(t, copyPath, flipped)
	refused("chunk")

	// The right bytes under a wrong key, or with the key lost: the start
	// is refused, naming the key id the staged file needs, and no key is
	// generated in place of the lost one.
	writeFile(t, copyPath, sealed)
	goodKey, _ := os.ReadFile(keyPath)
	k, _ := seal.ParseKey(goodKey)
	startRefused := func(why string) {
		t.Helper()
		r := exchanged(t, nil, "once", "--config", cfg, "claims-in")
		if r.code == 0 || !strings.Contains(r.stderr, why) || !strings.Contains(r.stderr, "1 staged file sealed under key id "+k.ID()) ||
			!strings.Contains(r.stderr, "exchanged files abandon") || strings.Contains(r.stderr, marker) {
			t.Fatalf("start with the staged file's key %s: exit %d\n%s", why, r.code, r.stderr)
		}
		if got := stagedFiles(t, staging); !bytes.Equal(got[copyPath], sealed) || len(got) != 1 {
			t.Fatal("the staged copy was changed by a refused start")
		}
	}
	other, _ := seal.GenerateFile()
	writeFile(t, keyPath, other)
	os.Chmod(keyPath, 0o600)
	startRefused("lacks a key")
	os.Remove(keyPath)
	startRefused("staging.key is missing")
	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Fatalf("a staging key was generated while a sealed file waits: %v", err)
	}

	// A copy in plaintext, as a version before sealing left it: sealed at
	// start, then delivered.
	writeFile(t, keyPath, goodKey)
	os.Chmod(keyPath, 0o600)
	writeFile(t, copyPath, data)
	r = exchanged(t, nil, "once", "--config", cfg, "claims-in")
	if r.code != 0 || !strings.Contains(r.stderr, `"msg":"staging sealed"`) {
		t.Fatalf("run after an upgrade over plaintext staging: exit %d\n%s", r.code, r.stderr)
	}
	for _, p := range []string{filepath.Join(inbox, "claims_a.csv"), filepath.Join(inbox, "direct", "claims_a.csv")} {
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || !bytes.Contains(got, []byte(marker)) {
			t.Errorf("%s: delivered %d bytes, want the %d of the file", p, len(got), len(data))
		}
	}
	if left := stagedFiles(t, staging); len(left) != 0 {
		t.Errorf("staging holds %d files after delivery", len(left))
	}
}

// TestStagingKeyFromConfig: with staging.key set (file: and env:), files
// are sealed under that key, delivered, and no key is generated in
// state_dir.
func TestStagingKeyFromConfig(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	id, err := seal.GenerateFile()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"claims_b.csv": []byte("K-2;P. Bakker;Keizersgracht-777;12,00\r\n")}
	for _, ref := range []string{"file", "env"} {
		t.Run(ref, func(t *testing.T) {
			cfg, _, inbox, work := crashSetup(t, src, dst, files, "internal", claimsJob)
			keyFile := filepath.Join(work, "credentials", "staging_key")
			writeFile(t, keyFile, id)
			b, _ := os.ReadFile(cfg)
			line := "staging: {key: \"file:" + keyFile + "\"}\n"
			var env []string
			if ref == "env" {
				line, env = "staging: {key: env:TEST_STAGING_KEY}\n", []string{"TEST_STAGING_KEY=" + string(id)}
			}
			writeFile(t, cfg, append([]byte(line), b...))

			r := exchanged(t, append(env, "EXCHANGED_CRASH_AT=staged"), "once", "--config", cfg, "claims-in")
			if r.signal != "killed" {
				t.Fatalf("run was not killed: %+v", r)
			}
			k, _ := seal.ParseKey(id)
			for p, raw := range stagedFiles(t, filepath.Join(work, "state", "staging")) {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := k.Open(f); err != nil || bytes.Contains(raw, []byte("Keizersgracht")) {
					t.Fatalf("%s: not sealed under the configured key: %v", p, err)
				}
				f.Close()
			}
			if _, err := os.Stat(filepath.Join(work, "state", "staging.key")); !os.IsNotExist(err) {
				t.Fatalf("a key was generated beside a configured one: %v", err)
			}
			r = exchanged(t, env, "once", "--config", cfg, "claims-in")
			if got, _ := os.ReadFile(filepath.Join(inbox, "claims_b.csv")); r.code != 0 || !bytes.Equal(got, files["claims_b.csv"]) {
				t.Fatalf("delivered %q: exit %d\n%s", got, r.code, r.stderr)
			}
		})
	}
}

// TestStagingKeyReloadKeepsNeededKey: a SIGHUP whose config names a
// staging key that lacks the key id of a staged file is refused, naming
// the id and how many files need it, and the old config stays in force.
// A key that holds the old one after a new one is taken, and the file is
// delivered. A reload that drops the key that seals now is refused, even
// with staging empty: runs under way may be staging under it.
func TestStagingKeyReloadKeepsNeededKey(t *testing.T) {
	s := sshdtest.Start(t)
	work := t.TempDir()
	inbox := filepath.Join(s.Root, "inbox")
	os.MkdirAll(inbox, 0o755)
	os.MkdirAll(filepath.Join(work, "cases/outbox/acme"), 0o755)
	keyA, _ := seal.GenerateFile()
	keyB, _ := seal.GenerateFile()
	kA, _ := seal.ParseKey(keyA)
	keyFile := func(name string, b []byte) string {
		p := filepath.Join(work, "credentials", name)
		writeFile(t, p, b)
		os.Chmod(p, 0o600)
		return p
	}
	cfg, addr := peerConfig(t, work, s, paymentsJob(inbox))
	base, _ := os.ReadFile(cfg)
	withKey := func(p string) {
		writeFile(t, cfg, append([]byte("staging: {key: \"file:"+p+"\"}\n"), base...))
	}
	withKey(keyFile("a", keyA))
	const body = "K-7;M. Visser;Prinsengracht-313;99,00\r\n"
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv"), []byte(body))
	writeFile(t, filepath.Join(work, "cases/outbox/acme/p1.csv.done"), nil)
	if r := exchanged(t, []string{"EXCHANGED_CRASH_AT=staged"}, "once", "--config", cfg, "payments-out"); r.signal != "killed" {
		t.Fatalf("run with EXCHANGED_CRASH_AT=staged was not killed: %+v", r)
	}
	p := startDaemon(t, cfg, addr)

	withKey(keyFile("b", keyB))
	p.signal(syscall.SIGHUP)
	ev := p.waitEvents(1, "config reload failed", nil)[0]
	msg := fmt.Sprint(ev["error"])
	if !strings.Contains(msg, "lacks a key") || !strings.Contains(msg, "1 staged file sealed under key id "+kA.ID()) || strings.Contains(msg, "Prinsengracht") {
		t.Fatalf("reload to a key without the staged file's id: %v", ev)
	}
	if ev["outcome"] != "kept" {
		t.Fatalf("refused reload did not keep the old config: %v", ev)
	}

	// The new key first and the old one after it: reloaded, and the
	// file sealed under the old key is delivered.
	withKey(keyFile("ba", append(append([]byte{}, keyB...), keyA...)))
	p.signal(syscall.SIGHUP)
	p.waitEvents(1, "config reloaded", nil)
	if e := p.trigger("payments-out", 1); e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("run after the reload: %v\n%s", e, p.log())
	}
	if got, _ := os.ReadFile(filepath.Join(inbox, "p1.csv")); string(got) != body {
		t.Fatalf("delivered %q, want the file", got)
	}

	// Staging is empty, but the key that seals now (B) is what runs
	// under way during a reload seal with: dropping it takes a restart.
	kB, _ := seal.ParseKey(keyB)
	withKey(keyFile("a2", keyA))
	p.signal(syscall.SIGHUP)
	ev = p.waitEvents(2, "config reload failed", nil)[1]
	if msg := fmt.Sprint(ev["error"]); !strings.Contains(msg, "lacks key id "+kB.ID()) || !strings.Contains(msg, "restart exchanged") {
		t.Fatalf("reload dropping the key that seals: %v", ev)
	}
}
