package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

	// The right bytes under a wrong key.
	writeFile(t, copyPath, sealed)
	goodKey, _ := os.ReadFile(keyPath)
	other, _ := seal.GenerateFile()
	writeFile(t, keyPath, other)
	os.Chmod(keyPath, 0o600)
	refused("another key")

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
