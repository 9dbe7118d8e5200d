package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestCrashInDeliveryModes kills the real binary at the delivery steps
// that only some modes have: between the hard link and the removal of the
// temp name (upload: temp on OpenSSH, which offers hardlink@openssh.com),
// and halfway through, after and at the end of a direct upload (upload:
// direct, where a partial file does stand under the final name until the
// done marker says otherwise). After a restart every file stands once,
// whole, with its marker, and no temp file is left.
func TestCrashInDeliveryModes(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	files := map[string][]byte{
		"claims_a.csv": bytes.Repeat([]byte("K-1;J. de Vries;1.234,56\r\n"), 40000), // ~1 MB
		"claims_b.csv": []byte("K-2;P. Bakker;12,00\r\n"),
	}
	for _, tc := range []struct{ mode, step string }{
		{"temp", "linked"},
		{"direct", "uploading"},
		{"direct", "uploaded"},
		{"direct", "delivered"},
	} {
		t.Run(tc.mode+"/"+tc.step, func(t *testing.T) {
			cfg, _, inbox, _ := crashSetup(t, src, dst, files, "internal", `
  claims-in:
    schedule: "@hourly"
    source: {partner: acme, dir: OUTBOX, match: "claims_*.csv", done_marker: ".done", after: delete}
    destinations:
      - {partner: dest, dir: INBOX, done_marker: ".ok", upload: `+tc.mode+`}
`)
			r := exchanged(t, []string{"EXCHANGED_CRASH_AT=" + tc.step}, "once", "--config", cfg, "claims-in")
			if r.signal != "killed" {
				t.Fatalf("run with EXCHANGED_CRASH_AT=%s was not killed: %+v", tc.step, r)
			}
			assertMarkedWhole(t, inbox, files)

			r = exchanged(t, nil, "once", "--config", cfg, "claims-in")
			if r.code != 0 {
				t.Fatalf("restart after a crash at %s: exit %d\n%s", tc.step, r.code, r.stderr)
			}
			if tc.step == "uploading" && !strings.Contains(r.stderr, `"msg":"partial file removed"`) {
				t.Errorf("restart after a crash mid-upload removed no partial file:\n%s", r.stderr)
			}
			assertNoPartialFinals(t, inbox, files)
			if got, want := strings.Join(names(t, inbox), " "), "claims_a.csv claims_a.csv.ok claims_b.csv claims_b.csv.ok"; got != want {
				t.Fatalf("inbox after recovery = %q, want %q (exactly once, no temp files)", got, want)
			}
			r = exchanged(t, nil, "once", "--config", cfg, "claims-in")
			if r.code != 0 || strings.Contains(r.stderr, `"msg":"file delivered"`) {
				t.Fatalf("third run delivered again or failed: %+v", r)
			}
		})
	}
}

// assertMarkedWhole checks that every file whose done marker stands is
// whole: with upload: direct a partial file may stand under its final
// name, but never with its marker.
func assertMarkedWhole(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if _, err := os.Stat(filepath.Join(dir, name+".ok")); err != nil {
			continue
		}
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, data) {
			t.Fatalf("%s has its done marker but %d of %d bytes", name, len(got), len(data))
		}
	}
}
