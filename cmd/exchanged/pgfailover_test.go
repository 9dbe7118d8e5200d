package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// Machine A stages a file on a PostgreSQL ledger and dies
// (crash after "staged", before the source is cleaned). Machine B, its own
// state_dir on the same ledger (the owner lock lets it take over: A is
// gone), advances the staged file: it cleans the source at the partner
// though its staging holds no copy. The file is then nowhere but in A's
// staging.
func TestPostgresFailoverRestagesBeforeClean(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	dsn := pgtest.DSN(t)
	files := map[string][]byte{"claims_a.csv": []byte("K-1;J. de Vries;1.234,56\r\n")}
	cfg, outbox, inbox, work := crashSetup(t, src, dst, files, "internal", crashJob)
	usePostgresLedger(t, cfg, work, dsn)
	r := exchanged(t, []string{"EXCHANGED_CRASH_AT=staged"}, "once", "--config", cfg, "claims-in")
	if r.signal != "killed" {
		t.Fatalf("run with EXCHANGED_CRASH_AT=staged was not killed: %+v", r)
	}
	if ents, _ := os.ReadDir(outbox); len(ents) == 0 {
		t.Fatalf("source already cleaned by A")
	}
	// Machine B: same config and ledger, another state_dir.
	b, _ := os.ReadFile(cfg)
	cfgB := filepath.Join(work, "b.yaml")
	writeFile(t, cfgB, bytes.Replace(b, []byte(filepath.Join(work, "state")), []byte(filepath.Join(work, "stateB")), 1))
	r = exchanged(t, nil, "once", "--config", cfgB, "claims-in")
	t.Logf("B: exit %d\n%s", r.code, lastLines(r.stderr, 12))
	left, _ := os.ReadDir(outbox)
	got, _ := os.ReadDir(inbox)
	stagingB, _ := os.ReadDir(filepath.Join(work, "stateB", "staging"))
	t.Logf("outbox %d entries, inbox %d entries, B's staging %d entries", len(left), len(got), len(stagingB))
	if len(left) == 0 && len(got) == 0 {
		t.Errorf("B cleaned the source of a file whose only staged copy is on A, and delivered nothing: the file is lost if A is")
	}
	if d, err := os.ReadFile(filepath.Join(inbox, "claims_a.csv")); err != nil || !bytes.Equal(d, files["claims_a.csv"]) {
		t.Errorf("B delivered %q (%v), want the file staged again from the source", d, err)
	}
	if !strings.Contains(r.stderr, `"outcome":"restaged"`) {
		t.Errorf("B did not log the file staged again")
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
