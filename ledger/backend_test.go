package ledger

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/exchanged/exchanged/internal/pgtest"
)

// The ledger's tests run on both its databases: a test that calls
// forEachBackend runs its body as subtest "sqlite" and as subtest
// "postgres" (a fresh database on the package's PostgreSQL, see
// internal/pgtest). Within it, openTemp opens a fresh ledger of the
// subtest's backend and returns where it lives: a file path for SQLite, a
// DSN for PostgreSQL; openAt, openCurrentAt, openReadOnlyAt and rawDB
// take either. A test that inspects SQLite's files (modes, the key file,
// PRAGMAs, sqlite_sequence) does not call forEachBackend, and says so.

func TestMain(m *testing.M) {
	pgBusyWait = time.Second // ErrBusy sooner; still past a closed connection's release
	os.Exit(pgtest.Main(m))
}

// The backends, by subtest name.
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// forEachBackend runs body once on each backend, as a subtest named after it.
func forEachBackend(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	for _, b := range []string{backendSQLite, backendPostgres} {
		t.Run(b, body)
	}
}

// backendOf returns the backend of a test run by forEachBackend (or a
// subtest of one), SQLite for any other.
func backendOf(t testing.TB) string {
	if parts := strings.Split(t.Name(), "/"); len(parts) > 1 && parts[1] == backendPostgres {
		return backendPostgres
	}
	return backendSQLite
}

// openTemp opens a fresh ledger of t's backend, closed when t ends, and
// returns it with where it lives.
func openTemp(t *testing.T) (*Ledger, string) {
	t.Helper()
	where := newWhere(t)
	l, err := openAt(where)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, where
}

// newWhere returns where a fresh ledger of t's backend may be made: a
// path in an empty directory, or the DSN of an empty database.
func newWhere(t *testing.T) string {
	t.Helper()
	if backendOf(t) == backendPostgres {
		return pgtest.DSN(t)
	}
	return t.TempDir() + "/ledger.db"
}

func isDSN(where string) bool { return strings.HasPrefix(where, "postgres://") }

// testKey is the pseudonym key of the PostgreSQL ledger at dsn: the same
// for every open of it, as a configured key is.
func testKey(dsn string) []byte {
	k := sha256.Sum256([]byte("ledger test key " + dsn))
	return k[:]
}

// openAt opens the ledger where lives (Open, OpenPostgres).
func openAt(where string) (*Ledger, error) {
	if isDSN(where) {
		return OpenPostgres(where, testKey(where))
	}
	return Open(where)
}

// openCurrentAt is OpenCurrent or OpenPostgresCurrent.
func openCurrentAt(where string) (*Ledger, error) {
	if isDSN(where) {
		return OpenPostgresCurrent(where, testKey(where))
	}
	return OpenCurrent(where)
}

// openReadOnlyAt is OpenReadOnly or OpenPostgresReadOnly.
func openReadOnlyAt(where string) (*Ledger, error) {
	if isDSN(where) {
		return OpenPostgresReadOnly(where, testKey(where))
	}
	return OpenReadOnly(where)
}

// rawDB opens a second, plain connection to the ledger, as one who alters
// it behind the ledger's back would. On PostgreSQL its statements take
// '?' placeholders too.
func rawDB(t *testing.T, where string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if isDSN(where) {
		cfg, err := pgx.ParseConfig(where)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(pgConnector{Connector: stdlib.GetConnector(*cfg)})
	} else {
		var err error
		if db, err = sql.Open("sqlite", where+"?_busy_timeout=10000"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// seqTable is the table that holds the highest audit seq ever given:
// SQLite's sqlite_sequence, PostgreSQL's audit_sequence (name, seq both).
func seqTable(where string) string {
	if isDSN(where) {
		return "audit_sequence"
	}
	return "sqlite_sequence"
}

// sqliteOnly marks a test that inspects what SQLite alone has (its files,
// their modes, the key file beside them, PRAGMAs): it runs once, on
// SQLite, and says why in its comment.
func sqliteOnly(t *testing.T, body func(t *testing.T)) { body(t) }
