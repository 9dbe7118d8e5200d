package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/ledger"
)

const keepJob = `  keep-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv", done_marker: ".done", after: keep}
    destinations:
      - {partner: cases, dir: /inbox}
`

// purgeAt runs "exchanged purge" in process with its clock at now.
func purgeAt(t *testing.T, cfg string, now time.Time, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	c := &PurgeCommand{stdout: &out, stderr: &errs, now: func() time.Time { return now }}
	if err := c.Run(context.Background(), append([]string{"--config", cfg}, args...)); err != nil {
		t.Fatalf("purge: %v\n%s", err, errs.String())
	}
	if !strings.Contains(errs.String(), `"msg":"purge"`) {
		t.Errorf("purge logged no counts: %s", errs.String())
	}
	return out.String()
}

// TestPurgeAndAuditVerify runs on a SQLite ledger and on a PostgreSQL one.
func TestPurgeAndAuditVerify(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { purgeAndAuditVerify(t, false) })
	t.Run("postgres", func(t *testing.T) { purgeAndAuditVerify(t, true) })
}

func purgeAndAuditVerify(t *testing.T, postgres bool) {
	work := t.TempDir()
	cfg, _ := localConfig(t, work, keepJob)
	db, driver, param := filepath.Join(work, "state", "ledger.db"), "sqlite", "?"
	open := func() (*ledger.Ledger, error) { return ledger.Open(db) }
	if postgres {
		db, driver, param = pgtest.DSN(t), "pgx", "$1"
		keyFile := usePostgresLedger(t, cfg, work, db)
		open = func() (*ledger.Ledger, error) {
			b, _ := os.ReadFile(keyFile)
			key, err := ledger.ParseKey(b)
			if err != nil {
				return nil, err
			}
			return ledger.OpenPostgres(db, key)
		}
	}
	src := filepath.Join(work, "acme", "outbox")
	delivered := filepath.Join(work, "cases", "inbox", "claims_1.csv")
	writeFile(t, filepath.Join(src, "claims_1.csv"), []byte("a;b\n1;2\n"))
	writeFile(t, filepath.Join(src, "claims_1.csv.done"), nil)
	if r := exchanged(t, nil, "once", "--config", cfg, "keep-in"); r.code != 0 {
		t.Fatalf("once: %+v", r)
	}
	if _, err := os.Stat(delivered); err != nil {
		t.Fatal(err)
	}

	// Verify reads the ledger while another process holds it open.
	l, err := open()
	if err != nil {
		t.Fatal(err)
	}
	r := exchanged(t, nil, "audit", "verify", "--config", cfg)
	l.Close()
	if r.code != 0 || !strings.Contains(r.stdout, "the chain is whole") {
		t.Fatalf("audit verify: %+v", r)
	}
	// The head it prints is an anchor a later verify checks: it holds;
	// the same record with another hash does not.
	_, anchor, ok := strings.Cut(r.stdout, "check it later with --anchor ")
	anchor, _, _ = strings.Cut(anchor, "\n")
	if !ok || !strings.Contains(anchor, ":") {
		t.Fatalf("audit verify printed no anchor: %s", r.stdout)
	}
	if r := exchanged(t, nil, "audit", "verify", "--config", cfg, "--anchor", anchor); r.code != 0 {
		t.Fatalf("audit verify --anchor %s (the head it printed): %+v", anchor, r)
	}
	seq, _, _ := strings.Cut(anchor, ":")
	wrong := seq + ":" + strings.Repeat("0", 64)
	if r := exchanged(t, nil, "audit", "verify", "--config", cfg, "--anchor", wrong); r.code != 1 {
		t.Fatalf("audit verify --anchor %s (a hash the record never had): %+v, want exit 1", wrong, r)
	}

	// Within retention nothing goes; eight years on, the file's record does.
	if out := purgeAt(t, cfg, time.Now(), "--dry-run"); !strings.Contains(out, "would purge 0 file record(s)") {
		t.Errorf("dry run now: %s", out)
	}
	later := time.Now().AddDate(8, 0, 0)
	if out := purgeAt(t, cfg, later, "--dry-run"); !strings.Contains(out, "would purge 1 file record(s), 1 delivery(ies)") {
		t.Errorf("dry run later: %s", out)
	}
	if out := purgeAt(t, cfg, later); !strings.Contains(out, "purged 1 file record(s), 1 delivery(ies), 0 subject disclosure(s), 1 run(s); 1 source identity(ies) kept; 0 file action(s)") {
		t.Errorf("purge: %s", out)
	}
	if r := exchanged(t, nil, "audit", "verify", "--config", cfg); r.code != 0 {
		t.Fatalf("audit verify after purge: %+v", r)
	}

	// The kept source is not imported again; a new file is.
	os.Remove(delivered)
	writeFile(t, filepath.Join(src, "claims_2.csv"), []byte("a;b\n3;4\n"))
	writeFile(t, filepath.Join(src, "claims_2.csv.done"), nil)
	if r := exchanged(t, nil, "once", "--config", cfg, "keep-in"); r.code != 0 {
		t.Fatalf("once: %+v", r)
	}
	if _, err := os.Stat(delivered); err == nil {
		t.Fatal("a kept source was imported again after its record was purged")
	}
	if _, err := os.Stat(filepath.Join(work, "cases", "inbox", "claims_2.csv")); err != nil {
		t.Fatal(err)
	}

	// A raw UPDATE of the new delivery is found and named.
	raw, err := sql.Open(driver, db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var id int64
	if err := raw.QueryRow(`SELECT max(id) FROM deliveries`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE deliveries SET partner = 'acme' WHERE id = `+param, id); err != nil {
		t.Fatal(err)
	}
	r = exchanged(t, nil, "audit", "verify", "--config", cfg)
	if r.code != exitFailed || !strings.Contains(r.stdout, fmt.Sprintf("BROKEN: delivery %d", id)) {
		t.Fatalf("audit verify after tampering: %+v", r)
	}
}

// The daemon's daily purge counts what it removed in the metrics.
func TestDaemonPurgeMetrics(t *testing.T) {
	work := t.TempDir()
	path, _ := localConfig(t, work, keepJob)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d, err := openDaemon(path, cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	run, err := d.ledger.StartRun("keep-in", time.Now().AddDate(-1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ledger.FinishRun(run, "ok", 0, "", time.Now().AddDate(-1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	d.purge()
	mfs, err := d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "exchanged_purged_rows_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if got["runs"] != 1 || got["files"] != 0 {
		t.Errorf("purged metrics %v, want 1 run, 0 files", got)
	}
	if !strings.Contains(logs.String(), `"logger":"retention"`) || !strings.Contains(logs.String(), `"runs":1`) {
		t.Errorf("purge not logged: %s", logs.String())
	}
}

// purgeErr runs "exchanged purge" in process and returns its error.
func purgeErr(t *testing.T, cfg string, args ...string) error {
	t.Helper()
	var out, errs bytes.Buffer
	c := &PurgeCommand{stdout: &out, stderr: &errs}
	return c.Run(context.Background(), append([]string{"--config", cfg}, args...))
}

// A purge never creates, migrates or write-locks the daemon's ledger: a
// dry run reads it read-only, beside a writer; a purge refuses a ledger
// that is missing or of another schema version, and runs beside a
// daemon holding the state_dir lock.
func TestPurgeOpensTheLedgerAsItShould(t *testing.T) {
	work := t.TempDir()
	cfg, _ := localConfig(t, work, keepJob)
	db := filepath.Join(work, "state", "ledger.db")
	for _, args := range [][]string{{"--dry-run"}, nil} {
		if err := purgeErr(t, cfg, args...); err == nil {
			t.Errorf("purge %v of a missing ledger: no error", args)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Fatalf("purge %v created the ledger: %v", args, err)
		}
	}

	if r := exchanged(t, nil, "once", "--config", cfg, "keep-in"); r.code != 0 {
		t.Fatalf("once: %+v", r)
	}
	// The daemon holds the state_dir lock and is inside a write.
	unlock, err := exchange.LockStateDir(filepath.Join(work, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	raw, err := sql.Open("sqlite", db+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := purgeErr(t, cfg, "--dry-run"); err != nil {
		t.Fatalf("dry run beside a writer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dry run waited %v for the writer: it must not take a write lock", d)
	}
	tx.Rollback()
	if err := purgeErr(t, cfg); err != nil {
		t.Fatalf("purge beside a daemon holding the state_dir lock: %v", err)
	}

	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", v-1)); err != nil {
		t.Fatal(err)
	}
	err = purgeErr(t, cfg)
	if !errors.Is(err, ledger.ErrSchema) || !strings.Contains(err.Error(), "run the daemon of this version once first") {
		t.Fatalf("purge of a ledger of another schema version: %v, want a refusal naming it", err)
	}
	var after int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&after); err != nil || after != v-1 {
		t.Fatalf("schema version %d after a refused purge, want %d (%v)", after, v-1, err)
	}
}
