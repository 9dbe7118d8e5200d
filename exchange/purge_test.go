package exchange

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// importedUnderKeep returns a rig whose job j (after: keep) imported and
// delivered a.csv, since taken from the destination by the case system.
func importedUnderKeep(t *testing.T) (g *rig, in, out string) {
	t.Helper()
	g, in, out = localRig(t, config.Source{After: "keep"})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if res, err := g.run("j"); err != nil || res.Files != 1 {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	os.Remove(filepath.Join(out, "inbox", "a.csv")) // the case system took it
	return g, in, out
}

// A kept source file whose record was purged is not imported again: its
// identity outlives the record.
func TestKeptSourceNotReimportedAfterPurge(t *testing.T) {
	g, in, out := importedUnderKeep(t)

	// Seven years and more on: every record is past its retention.
	later := time.Now().AddDate(7, 1, 0)
	res, err := g.ledger.Purge(ledger.PurgeOptions{Files: config.DefaultRetentionFiles.Before(later),
		Runs: config.DefaultRetentionRuns.Before(later)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Deliveries != 1 || res.Kept != 1 || res.Runs != 1 {
		t.Fatalf("purge = %+v, want 1 file, 1 delivery, 1 kept identity, 1 run", res)
	}
	if r, err := g.ledger.VerifyAudit(); err != nil || !r.OK() {
		t.Fatalf("audit after purge: %+v, %v", r, err)
	}

	if res, err := g.run("j"); err != nil || res.Files != 0 {
		t.Fatalf("run after purge = %+v, %v; a kept file must not be imported again", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("kept file delivered again after its record was purged")
	}
	// A new version of the file is a new file.
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), append(claims, claims...), 0o644)
	if res, err := g.run("j"); err != nil || res.Files != 1 {
		t.Fatalf("changed file: %+v, %v; want it imported", res, err)
	}
}

// A file imported while its job kept its source, the job since changed to
// delete: the source still stands, and after its record is purged it must
// still not be imported again (its identity is kept whatever after: the
// job has now).
func TestKeepChangedToDeleteNotReimportedAfterPurge(t *testing.T) {
	g, in, out := importedUnderKeep(t)
	g.cfg.Jobs["j"].Source.After = "delete"

	later := time.Now().AddDate(7, 1, 0)
	res, err := g.ledger.Purge(ledger.PurgeOptions{Files: config.DefaultRetentionFiles.Before(later),
		Runs: config.DefaultRetentionRuns.Before(later)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Kept != 1 {
		t.Fatalf("purge = %+v, want 1 file, 1 kept identity", res)
	}
	if res, err := g.run("j"); err != nil || res.Files != 0 {
		t.Fatalf("run after purge = %+v, %v; a file imported once must not be imported again", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file imported under keep was delivered again after its record was purged")
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "a.csv")); err != nil {
		t.Fatal("the source imported under keep was touched:", err)
	}
	// A second purge records nothing new.
	if res, err := g.ledger.Purge(ledger.PurgeOptions{Files: config.DefaultRetentionFiles.Before(later)}); err != nil || res.Kept != 0 {
		t.Fatalf("second purge = %+v, %v; want no identity recorded twice", res, err)
	}
}
