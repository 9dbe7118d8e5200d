package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/pgtest"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                          `SELECT 1`,
		`a = ? AND b = ?`:                   `a = $1 AND b = $2`,
		`x = '?' AND y = ?`:                 `x = '?' AND y = $1`,
		`x = 'it''s ?' AND "q?" = ?`:        `x = 'it''s ?' AND "q?" = $1`,
		"-- why?\nSELECT ? /* or? */, ?":    "-- why?\nSELECT $1 /* or? */, $2",
		`VALUES (?, ?, ?) RETURNING id`:     `VALUES ($1, $2, $3) RETURNING id`,
		`x = 'unterminated ?`:               `x = 'unterminated ?`,
		`substr(key, 1, ?) = ? -- trailing`: `substr(key, 1, $1) = $2 -- trailing`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// The two schemas are the same list of migrations: the same numbers and
// names, and a new ledger reaches the same version on both.
func TestSchemaVersionsAgree(t *testing.T) {
	sq, err := migrations(sqliteDialect{})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(pgDialect{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sq) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(sq), len(pg))
	}
	names := func(d dialect) []string {
		ns, _ := schemaGlob(d)
		for i, n := range ns {
			ns[i] = path.Base(n)
		}
		return ns
	}
	if a, b := names(sqliteDialect{}), names(pgDialect{}); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("migration names differ:\n sqlite   %v\n postgres %v", a, b)
	}
	ls, _ := openTemp(t)
	lp, err := OpenPostgres(pgtest.DSN(t), testKey("v"))
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	vs, err1 := ls.SchemaVersion()
	vp, err2 := lp.SchemaVersion()
	if err1 != nil || err2 != nil || vs != vp || vs != len(sq) {
		t.Fatalf("versions: sqlite %d (%v), postgres %d (%v); want %d", vs, err1, vp, err2, len(sq))
	}
}

// On PostgreSQL: a schema of another version is refused by
// OpenPostgresCurrent and OpenPostgresReadOnly, a newer one by
// OpenPostgres too, and a read-only ledger cannot write.
func TestPostgresVersionAndReadOnly(t *testing.T) {
	dsn := pgtest.DSN(t)
	key := testKey(dsn)
	l, err := OpenPostgres(dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	f := stage(t, l, newFile("a.csv"))
	ro, err := OpenPostgresReadOnly(dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ro.File(f); err != nil || got.Name != "a.csv" {
		t.Fatalf("read-only File = %+v, %v", got, err)
	}
	if _, err := ro.AddFile(newFile("b.csv")); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("read-only AddFile: %v, want refused by PostgreSQL", err)
	}
	ro.Close()
	l.Close()

	ms, _ := migrations(pgDialect{})
	db := rawDB(t, dsn)
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(ms)-1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgresCurrent(dsn, key); !errors.Is(err, ErrSchema) {
		t.Errorf("OpenPostgresCurrent of an older schema: %v, want ErrSchema", err)
	}
	if _, err := OpenPostgresReadOnly(dsn, key); err == nil {
		t.Error("OpenPostgresReadOnly of an older schema: no error")
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(dsn, key); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("OpenPostgres of a newer schema: %v", err)
	}
}

// The key: a ledger refuses another key than the one it was made with, a
// key of the wrong size, and holds no trace of the key but its
// fingerprint; ParseKey reads raw and hex keys.
func TestPostgresKey(t *testing.T) {
	dsn := pgtest.DSN(t)
	key := testKey(dsn)
	l, err := OpenPostgres(dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	p := l.Pseudonym("acme", "K1")
	l.Close()
	other := bytes.Clone(key)
	other[0] ^= 1
	if _, err := OpenPostgres(dsn, other); !errors.Is(err, ErrKey) {
		t.Errorf("OpenPostgres with another key: %v, want ErrKey", err)
	}
	if _, err := OpenPostgresReadOnly(dsn, other); !errors.Is(err, ErrKey) {
		t.Errorf("OpenPostgresReadOnly with another key: %v, want ErrKey", err)
	}
	if _, err := OpenPostgres(dsn, key[:16]); !errors.Is(err, ErrKey) {
		t.Errorf("OpenPostgres with a short key: %v, want ErrKey", err)
	}
	l, err = OpenPostgres(dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	if l.Pseudonym("acme", "K1") != p {
		t.Error("the same key gives another pseudonym after a reopen")
	}
	l.Close()
	var dump strings.Builder
	rows, err := rawDB(t, dsn).Query(`SELECT key || '=' || value FROM meta`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		dump.WriteString(s + "\n")
	}
	rows.Close()
	if strings.Contains(dump.String(), hex.EncodeToString(key)) || !strings.Contains(dump.String(), fingerprint(key)) {
		t.Errorf("meta holds the key, or not its fingerprint:\n%s", dump.String())
	}

	for _, in := range [][]byte{key, []byte(hex.EncodeToString(key)), []byte(hex.EncodeToString(key) + "\n")} {
		if got, err := ParseKey(in); err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%d bytes) = %x, %v", len(in), got, err)
		}
	}
	for _, in := range [][]byte{key[:31], []byte(hex.EncodeToString(key[:31])), []byte("zz" + hex.EncodeToString(key)[2:])} {
		if _, err := ParseKey(in); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%d bytes): %v, want ErrKey", len(in), err)
		}
	}
}

// A DSN is a secret: an Open that fails does not show it.
func TestPostgresErrorHidesDSN(t *testing.T) {
	dsn := pgtest.DSN(t)
	at := strings.LastIndex(dsn, "@")
	colon := strings.LastIndex(dsn[:at], ":")
	password := dsn[colon+1 : at]
	wrong := dsn[:colon+1] + "x" + password + dsn[at:]
	_, err := OpenPostgres(wrong, testKey(dsn))
	if err == nil {
		t.Fatal("a wrong password opened the ledger")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error shows the password: %v", err)
	}
	_, err = OpenPostgres("postgres://u:"+password+"@127.0.0.1:notaport/db", testKey(dsn))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("a DSN that does not parse: %v", err)
	}
}

// One process runs jobs on a PostgreSQL ledger: a second OpenPostgres is
// refused (ErrBusy) while the first is open. The first's lock goes with
// its connection: cut it (pg_terminate_backend) and another process may
// take the ledger, after which the first writes nothing more (its
// reconnect is refused); once the ledger is free again, it goes on.
func TestPostgresOwnerLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	key := testKey(dsn)
	a, err := OpenPostgres(dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := OpenPostgres(dsn, key); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second OpenPostgres: %v, want ErrBusy", err)
	}
	stage(t, a, newFile("before.csv"))

	raw := rawDB(t, dsn)
	var n int
	err = raw.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = ? AND objid = ? AND objsubid = 1
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		pgOwnerLock>>32, pgOwnerLock&0xffffffff).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate the owner's backend: %d, %v", n, err)
	}
	var b *Ledger
	for i := 0; i < 100 && b == nil; i++ { // the terminated backend lets go within moments
		if b, err = OpenPostgres(dsn, key); errors.Is(err, ErrBusy) {
			time.Sleep(20 * time.Millisecond)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if b == nil {
		t.Fatalf("the ledger stayed busy after its owner's connection was cut: %v", err)
	}
	// The first call meets the cut connection; the next connects again
	// and is refused.
	if _, err := a.AddFile(newFile("cut-off.csv")); err == nil {
		t.Fatal("AddFile on the cut connection: no error")
	}
	if _, err := a.AddFile(newFile("cut-off.csv")); !errors.Is(err, ErrBusy) {
		t.Fatalf("AddFile by the process cut off while another took over: %v, want ErrBusy", err)
	}
	if _, err := b.Lookup("acme-claims-in", "acme-energie", "/outbox", "cut-off.csv", 1234, mtime); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the cut-off process's file is on record: %v", err)
	}
	stage(t, b, newFile("taken-over.csv"))
	b.Close()
	if _, err := a.AddFile(newFile("after.csv")); err != nil {
		t.Fatalf("AddFile once the ledger is free again: %v", err)
	}
}
