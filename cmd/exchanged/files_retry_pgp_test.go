package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/gpgtest"
	"github.com/exchanged/exchanged/ledger"
)

// A direct delivery encrypted to the partner wrote the file whole under
// its final name (s.csv.pgp), then the destination drops pgp: (so a new
// name, s.csv, at the same partner and directory, and the staged copy is
// the output): a retry would supersede it and send the file again under
// the new name, the partner then holding it twice. It is refused, saying
// so and what to tell the partner, unless --force; forced, it warns the
// same, and the next run delivers s.csv beside s.csv.pgp.
func TestFilesRetryAfterPGPChange(t *testing.T) {
	partner := gpgtest.New(t)
	fpr := partner.GenKey("Acme <acme@example>", gpgtest.Curve25519, "", "never", time.Time{})
	work := t.TempDir()
	keyPath := filepath.Join(work, "keys/acme.asc")
	writeFile(t, keyPath, partner.Export(fpr))
	dest := "{partner: acme, dir: /inbox, upload: direct, pgp: {encrypt_to: \"file:" + keyPath + "\"}}"
	cfg, _ := localConfig(t, work, `  status-out:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox, match: "*.csv", done_marker: ".done"}
    destinations:
      - `+dest+`
`)
	status := []byte("creditor_ref,status\nR-1,paid\n")
	writeFile(t, filepath.Join(work, "cases/outbox/s.csv"), status)
	writeFile(t, filepath.Join(work, "cases/outbox/s.csv.done"), nil)
	if r := exchanged(t, []string{"EXCHANGED_CRASH_AT=uploaded"}, "once", "--config", cfg, "status-out"); r.signal != "killed" {
		t.Fatalf("run with EXCHANGED_CRASH_AT=uploaded was not killed: %+v", r)
	}
	inbox := filepath.Join(work, "acme/inbox")
	if got, _ := os.ReadFile(filepath.Join(inbox, "s.csv.pgp")); len(got) == 0 || bytes.Contains(got, status) {
		t.Fatalf("the direct delivery left %d bytes under the final name, want the whole file encrypted", len(got))
	}
	good, _ := os.ReadFile(cfg)
	writeFile(t, cfg, bytes.Replace(good, []byte(dest), []byte("{partner: acme, dir: /inbox, upload: direct}"), 1))

	r := exchanged(t, nil, "files", "retry", "--config", cfg, "--reason", "pgp now", "1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "not retried: output 0 may stand at acme as /inbox/s.csv.pgp") ||
		!strings.Contains(r.stderr, "sends it to acme as /inbox/s.csv: acme may then hold the file twice; tell them to remove /inbox/s.csv.pgp (--force") ||
		!strings.Contains(r.stderr, "--force") {
		t.Fatalf("retry after a pgp change: %+v", r)
	}
	deliveries := func() []ledger.Delivery {
		l, err := ledger.OpenReadOnly(filepath.Join(work, "state/ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ds, _ := l.AllDeliveries(1)
		return ds
	}
	if ds := deliveries(); len(ds) != 1 || !ds[0].SupersededAt.IsZero() {
		t.Fatalf("a refused retry changed the deliveries: %+v", ds)
	}

	r = exchanged(t, nil, "files", "retry", "--config", cfg, "--reason", "pgp now", "--force", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "WARNING: output 0 may stand at acme as /inbox/s.csv.pgp") ||
		!strings.Contains(r.stdout, "tell them to remove /inbox/s.csv.pgp") {
		t.Fatalf("retry --force after a pgp change: %+v", r)
	}
	if r := exchanged(t, nil, "once", "--config", cfg, "status-out"); r.code != 0 {
		t.Fatalf("run after the retry: %+v", r)
	}
	if got := names(t, inbox); !slices.Equal(got, []string{"s.csv", "s.csv.pgp"}) {
		t.Fatalf("inbox = %v, want the old name and the new", got)
	}
	if got, _ := os.ReadFile(filepath.Join(inbox, "s.csv")); !bytes.Equal(got, status) {
		t.Errorf("s.csv holds %q, want the file", got)
	}
	if ds := deliveries(); len(ds) != 2 || ds[0].SupersededAt.IsZero() || ds[1].Name != "s.csv" || ds[1].State != ledger.DeliveryDelivered {
		t.Errorf("deliveries = %+v", ds)
	}
}
