package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/schedule"
)

// Fuzz secrets: every env: and file: reference the seeds use holds one of
// these markers, and no error may show one the input did not.
const (
	fuzzPassword = "FUZZMARK-pw-7f3a"
	fuzzKeyText  = "FUZZMARK-key-91c2"
	fuzzFileText = "FUZZMARK-file-5e0d"
)

// fuzzDir holds the secret files the seeds name. A fixed path, so that the
// seeds in testdata/fuzz/FuzzParse name it on every run.
var fuzzDir = filepath.Join(os.TempDir(), "exchanged-fuzz")

func fuzzSetup(f *testing.F) {
	f.Helper()
	if err := os.MkdirAll(fuzzDir, 0o700); err != nil {
		f.Fatal(err)
	}
	for name, v := range map[string]string{
		"secret":      fuzzFileText + "\n",
		"key":         testKey,
		"garbage_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + fuzzFileText + "\n-----END OPENSSH PRIVATE KEY-----\n",
		"known_hosts": "sftp.jansen.example " + fuzzFileText + "\n",
	} {
		if err := os.WriteFile(filepath.Join(fuzzDir, name), []byte(v), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	for name, v := range map[string]string{
		"FUZZ_PW":         fuzzPassword,
		"FUZZ_KEY":        testKey,
		"FUZZ_BAD_KEY":    fuzzKeyText,
		"FUZZ_PUB_KEY":    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMQEVNBoaA61zZqE9bM3IVF6nzbDuiZQGeJ15ULtOf1m " + fuzzKeyText,
		"FUZZ_PATH_KEY":   "/run/secrets/" + fuzzKeyText,
		"TEST_ACME_PW":    fuzzPassword,
		"TEST_JANSEN_KEY": testKey,
	} {
		old, had := os.LookupEnv(name)
		os.Setenv(name, v)
		f.Cleanup(func() {
			if had {
				os.Setenv(name, old)
			} else {
				os.Unsetenv(name)
			}
		})
	}
}

// FuzzParse: Parse never panics, never shows a secret's value (or a line
// of a file it read) in an error, and what it accepts validates and
// schedules.
func FuzzParse(f *testing.F) {
	fuzzSetup(f)
	f.Add([]byte(baseYAML))
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data))
		if err != nil {
			msg := err.Error()
			for _, m := range append([]string{fuzzPassword, fuzzKeyText, fuzzFileText, "FUZZMARK"}, keyMarkers()...) {
				if strings.Contains(msg, m) && !bytes.Contains(data, []byte(m)) {
					t.Fatalf("error shows secret %q:\n%s", m, msg)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		for name, j := range c.Jobs {
			if _, err := schedule.ParseSpec(j.Schedule, c.Location); err != nil {
				t.Fatalf("job %s: Parse accepted a schedule the scheduler refuses: %v", name, err)
			}
		}
		c.wipeSecrets()
	})
}
