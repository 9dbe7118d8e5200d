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

// Review of issue 14: the docs say a ledger error names the reference,
// never the DSN, and Open's connect error holds to it (pgConnectFailure).
// A cluster node's lease pool connects lazily, at its first TakeLease,
// and again after every lost connection: its connect error goes as is
// into the "lease not renewed" warning (every heartbeat while the
// database is away) and the run's error, and pgconn's message repeats the
// DSN's user, database and host.
func TestReview14LeaseConnectErrorNamesNoDSNParts(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	user, db := u.User.Username(), strings.TrimPrefix(u.Path, "/")
	l, err := OpenPostgresCluster(dsn, testKey(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// New connections to the database are refused from now on; the
	// ledger's own connection stays up.
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = l.TakeLease(ctx, "job:j", "a", time.Minute)
	if err == nil {
		t.Fatal("lease taken on a database that refuses connections")
	}
	t.Logf("error: %v", err)
	for what, s := range map[string]string{"user": user, "database": db, "host:port": u.Host} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the lease error names the DSN's %s: %v", what, err)
		}
	}
}
