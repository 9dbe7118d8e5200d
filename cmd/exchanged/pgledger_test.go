package main

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestOncePostgresLedger: "exchanged once" with ledger.postgres keeps its
// record in a real PostgreSQL, between a real OpenSSH source and
// destination: a run killed after an upload is resumed by the next
// process from that record, every file arrives exactly once, the record
// says so, the audit chain verifies, nothing of the ledger is left in
// state_dir, the DSN's password is in no log line, and another key is
// refused.
func TestOncePostgresLedger(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	dsn := pgtest.DSN(t)
	password := dsnPassword(t, dsn)
	files := map[string][]byte{
		"claims_a.csv": bytes.Repeat([]byte("K-1;J. de Vries;1.234,56\r\n"), 4000),
		"claims_b.csv": []byte("K-2;P. Bakker;12,00\r\n"),
	}
	cfg, outbox, inbox, work := crashSetup(t, src, dst, files, "internal", crashJob)
	keyFile := usePostgresLedger(t, cfg, work, dsn)
	var env []string
	var logs strings.Builder

	r := exchanged(t, append(env, "EXCHANGED_CRASH_AT=uploaded"), "once", "--config", cfg, "claims-in")
	logs.WriteString(r.stderr)
	if r.signal != "killed" {
		t.Fatalf("run with EXCHANGED_CRASH_AT=uploaded was not killed: %+v", r)
	}
	assertNoPartialFinals(t, inbox, files)
	r = exchanged(t, env, "once", "--config", cfg, "claims-in")
	logs.WriteString(r.stderr)
	if r.code != 0 {
		t.Fatalf("once after the crash: exit %d\n%s", r.code, r.stderr)
	}
	assertInbox(t, inbox, files, "claims_a.csv claims_a.csv.ok claims_b.csv claims_b.csv.ok")
	if left, _ := os.ReadDir(outbox); len(left) != 0 {
		t.Errorf("source left with %d entries", len(left))
	}
	state, _ := os.ReadDir(filepath.Join(work, "state"))
	for _, e := range state {
		if strings.HasPrefix(e.Name(), "ledger.db") {
			t.Errorf("state_dir holds %s beside a PostgreSQL ledger", e.Name())
		}
	}
	if st, _ := os.ReadDir(filepath.Join(work, "state", "staging")); len(st) != 0 {
		t.Errorf("staging not empty: %d entries", len(st))
	}

	// The record, read from PostgreSQL itself.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var done, delivered, total int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE state = 'done'), count(*) FROM files`).Scan(&done, &total); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM deliveries WHERE state = 'delivered' AND superseded_at IS NULL`).Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if done != 2 || total != 2 || delivered != 2 {
		t.Errorf("ledger: %d of %d files done, %d deliveries delivered; want 2, 2, 2", done, total, delivered)
	}

	r = exchanged(t, env, "audit", "verify", "--config", cfg)
	logs.WriteString(r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "anchor") {
		t.Errorf("audit verify on the PostgreSQL ledger: %+v", r)
	}
	r = exchanged(t, env, "once", "--config", cfg, "claims-in")
	logs.WriteString(r.stderr)
	if r.code != 0 || strings.Contains(r.stderr, `"msg":"file delivered"`) {
		t.Fatalf("a third run delivered again or failed: %+v", r)
	}

	// Another key is refused before anything moves.
	writeFile(t, keyFile, []byte(hex.EncodeToString(bytes.Repeat([]byte{8}, 32))+"\n"))
	r = exchanged(t, env, "once", "--config", cfg, "claims-in")
	logs.WriteString(r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, "is not the key this ledger's pseudonyms were made with") {
		t.Errorf("once with another key: %+v", r)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the DSN's password is in the output")
	}
}

// usePostgresLedger points config file cfg at the PostgreSQL database of
// dsn: it writes the DSN and a pseudonym key (hex) into files in work and
// appends ledger: {postgres: file:..., key: file:...}. It returns the key
// file.
func usePostgresLedger(t *testing.T, cfg, work, dsn string) string {
	t.Helper()
	dsnFile, keyFile := filepath.Join(work, "ledger.dsn"), filepath.Join(work, "ledger.key")
	writeFile(t, dsnFile, []byte(dsn+"\n"))
	writeFile(t, keyFile, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"))
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\nledger: {postgres: \"file:" + dsnFile + "\", key: \"file:" + keyFile + "\"}\n"); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// pgDump returns every row of every table of the database of dsn, as JSON
// lines: what the ledger holds, to search for what it must not.
func pgDump(t *testing.T, dsn string) []byte {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("the ledger database has %d tables: %q", len(tables), tables)
	}
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.Query(`SELECT row_to_json(t)::text FROM "` + table + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			rows.Scan(&line)
			out.WriteString(table + " " + line + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

// dsnPassword returns the password of a postgres:// URL.
func dsnPassword(t *testing.T, dsn string) string {
	t.Helper()
	at := strings.LastIndex(dsn, "@")
	colon := strings.LastIndex(dsn[:at], ":")
	if at < 0 || colon < 0 || colon+1 >= at {
		t.Fatalf("no password in the test DSN")
	}
	return dsn[colon+1 : at]
}

// The ledger is opened once: a reload that changes ledger.postgres or
// ledger.key is refused by name, showing the references, never the values.
func TestLedgerRestartOnly(t *testing.T) {
	old := &config.Config{Ledger: config.Ledger{
		Postgres: config.Secret{Ref: "env:DSN_A", Value: []byte("postgres://u:HUNTER2@a/db")},
		Key:      config.Secret{Ref: "file:/run/a", Value: []byte("KEYBYTES")}}}
	changed := *old
	changed.Ledger.Postgres = config.Secret{Ref: "env:DSN_B", Value: []byte("postgres://u:HUNTER3@b/db")}
	changed.Ledger.Key = config.Secret{Ref: "file:/run/b", Value: []byte("OTHERKEY")}
	err := restartOnly(old, &changed)
	if err == nil || !strings.Contains(err.Error(), `ledger.postgres: changed from "env:DSN_A" to "env:DSN_B"`) ||
		!strings.Contains(err.Error(), "ledger.key: changed") {
		t.Fatalf("reload changing the ledger: %v", err)
	}
	for _, secret := range []string{"HUNTER", "KEYBYTES", "OTHERKEY"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a secret value: %v", err)
		}
	}
	if err := restartOnly(old, old); err != nil {
		t.Errorf("reload keeping the ledger: %v", err)
	}
}

// One process runs jobs on a PostgreSQL ledger, as on a state_dir: while
// "exchanged run" works on it, "once" from another machine (its own
// state_dir, the same database) is refused before it touches a file,
// while audit verify reads beside it; once the daemon stopped, the other
// machine may run and finds the file already done.
func TestPostgresLedgerOneProcess(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	usePostgresLedger(t, cfg, work, pgtest.DSN(t))
	writeFile(t, filepath.Join(work, "acme", "outbox", "claims_1.csv"), []byte("a;b\n1;2\n"))
	writeFile(t, filepath.Join(work, "acme", "outbox", "claims_1.csv.done"), nil)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(work, "other.yaml")
	writeFile(t, other, []byte(strings.NewReplacer(
		"state_dir: "+filepath.Join(work, "state"), "state_dir: "+filepath.Join(work, "other-state"),
		`listen: "`+addr+`"`, `listen: ""`).Replace(string(b))))

	p := startDaemon(t, cfg, addr)
	if e := p.trigger("claims-in", 1); e["outcome"] != "ok" {
		t.Fatalf("run: %v\n%s", e, p.log())
	}
	if _, err := os.Stat(filepath.Join(work, "cases", "inbox", "claims_1.csv")); err != nil {
		t.Fatal(err)
	}
	r := exchanged(t, nil, "once", "--config", other, "claims-in")
	if r.code == 0 || !strings.Contains(r.stderr, "another exchanged process runs jobs on this ledger") {
		t.Fatalf("once from another machine beside the daemon: %+v", r)
	}
	if r := exchanged(t, nil, "audit", "verify", "--config", other); r.code != 0 {
		t.Fatalf("audit verify beside the daemon: %+v", r)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("daemon exit %d\n%s", code, p.log())
	}
	r = exchanged(t, nil, "once", "--config", other, "claims-in")
	if r.code != 0 || strings.Contains(r.stderr, `"msg":"file delivered"`) {
		t.Fatalf("once from another machine after the daemon stopped: %+v", r)
	}
}
