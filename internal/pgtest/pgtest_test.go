package pgtest_test

import (
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestDSN: each test gets its own empty database on the shared server,
// reachable with the DSN's password, and a table made in one is not in
// the other.
func TestDSN(t *testing.T) {
	a, b := pgtest.DSN(t), pgtest.DSN(t)
	if a == b {
		t.Fatal("two tests share a database")
	}
	da := open(t, a)
	if _, err := da.Exec(`CREATE TABLE only_a (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := open(t, b).QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename = 'only_a'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table of another database seen: %d, %v", n, err)
	}
	var addr string
	if err := da.QueryRow(`SELECT inet_server_addr()::text`).Scan(&addr); err != nil || !strings.HasPrefix(addr, "127.0.0.1") {
		t.Fatalf("server address %q, %v; want loopback", addr, err)
	}
	bad := strings.Replace(a, ":"+passwordOf(t, a)+"@", ":wrong@", 1)
	if err := open(t, bad).Ping(); err == nil {
		t.Fatal("a wrong password logged in")
	}
}

// TestStart: a server of its own, stopped at the end: its port no longer
// answers.
func TestStart(t *testing.T) {
	var s *pgtest.Server
	t.Run("server", func(t *testing.T) {
		s = pgtest.Start(t)
		if err := open(t, s.NewDB(t)).Ping(); err != nil {
			t.Fatal(err)
		}
	})
	if s == nil {
		t.Fatal("no server")
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("server directory left behind: %v", err)
	}
}

// TestUnavailableUnderCI: without the binaries, a test that needs them
// fails under CI=true instead of being skipped.
func TestUnavailableUnderCI(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		pgtest.Start(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(exe, "-test.run=^TestUnavailableUnderCI$", "-test.v")
		// No Debian binaries are found under a PATH without them only if
		// /usr/lib/postgresql is absent; PGTEST_BIN_GLOB points elsewhere.
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "CI="+ci, "PATH=/nonexistent", "PGTEST_BIN_GLOB=/nonexistent/*/bin")
		out, err := cmd.CombinedOutput()
		switch ci {
		case "true":
			if err == nil || !strings.Contains(string(out), "unavailable (CI=true)") {
				t.Fatalf("CI=true: want a failure naming the missing server, got %v: %s", err, out)
			}
		default:
			if err != nil || !strings.Contains(string(out), "SKIP") {
				t.Fatalf("CI unset: want a skip, got %v: %s", err, out)
			}
		}
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func passwordOf(t *testing.T, dsn string) string {
	t.Helper()
	at := strings.LastIndex(dsn, "@")
	colon := strings.LastIndex(dsn[:at], ":")
	return dsn[colon+1 : at]
}
