package ledger

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/pgtest"
)

// The docs say an error names the reference, never the DSN; the
// connect error repeats the DSN's user and database (and host:port).
func TestConnectErrorNamesNoDSNParts(t *testing.T) {
	dsn := pgtest.DSN(t)
	at := strings.LastIndex(dsn, "@")
	colon := strings.LastIndex(dsn[:at], ":")
	wrong := dsn[:colon+1] + "x" + dsn[colon+1:]
	_, err := OpenPostgres(wrong, testKey(dsn))
	if err == nil {
		t.Fatal("opened")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "exchanged_test") {
		t.Errorf("the error names the DSN's user: %v", err)
	}
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("the error does not name the failure class: %v", err)
	}
}

// The docs say a ledger error names the reference, never the DSN, and
// Open's connect error holds to it (pgConnectFailure). A connection made
// after Open holds to it too: a cluster node's lease pool connects
// lazily, at its first TakeLease, and again after every lost connection
// (its error goes into the "lease not renewed" warning, every heartbeat
// while the database is away, and the run's error); the ledger's own
// connection, alone or in a cluster, connects again after it was lost.
// pgconn's message repeats the DSN's user, database and host.
func TestReconnectErrorNamesNoDSNParts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		open   func(dsn string, key []byte) (*Ledger, error)
		leases bool
	}{
		{"alone", OpenPostgres, false},
		{"cluster", OpenPostgresCluster, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			user, db := u.User.Username(), strings.TrimPrefix(u.Path, "/")
			l, err := tc.open(dsn, testKey(dsn))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// New connections to the database are refused from now on;
			// the ledger's own connection stays up until cut below.
			au := *u
			au.Path = "/postgres"
			admin, err := sql.Open("pgx", au.String())
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.Exec(`ALTER DATABASE ` + db + ` ALLOW_CONNECTIONS false`); err != nil {
				t.Fatal(err)
			}
			defer admin.Exec(`ALTER DATABASE ` + db + ` ALLOW_CONNECTIONS true`)
			noDSN := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error on a database that refuses connections", what)
				}
				t.Logf("%s: %v", what, err)
				for part, s := range map[string]string{"user": user, "database": db, "host:port": u.Host} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("%s: the error names the DSN's %s: %v", what, part, err)
					}
				}
				if !strings.Contains(err.Error(), "connect: the server refused the connection (SQLSTATE 55000)") {
					t.Errorf("%s: the error does not name the failure class: %v", what, err)
				}
			}
			if tc.leases {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _, err = l.TakeLease(ctx, "job:j", "a", time.Minute)
				noDSN("take lease", err)
			}
			// The ledger's own connection is cut; its next call connects
			// again, and is refused.
			if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
				t.Fatal(err)
			}
			var err2 error
			for range 3 { // the first call may find the cut connection (bad conn), the next connects
				if _, err2 = l.File(1); err2 != nil && strings.Contains(err2.Error(), "connect:") {
					break
				}
			}
			noDSN("ledger read", err2)
		})
	}
}
