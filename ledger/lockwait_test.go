package ledger

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// a writer that holds the ledger's write lock (a stuck purge, a
// psql session) makes a write of the daemon fail after busyTimeout on
// SQLite; on PostgreSQL pg_advisory_xact_lock has no timeout.
func TestWriteLockWaitBounded(t *testing.T) {
	forEachBackend(t, testWriteLockWaitBounded)
}

func testWriteLockWaitBounded(t *testing.T) {
	l, where := openTemp(t)
	db := rawDB(t, where)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if isDSN(where) {
		if _, err := conn.ExecContext(context.Background(), "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_xact_lock("+strconv.FormatInt(pgWriteLock, 10)+")"); err != nil {
			t.Fatal(err)
		}
	} else if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	done := make(chan error, 1)
	go func() {
		_, err := l.StartRun("job", time.Now())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("StartRun succeeded while another writer held the lock")
		} else if !strings.Contains(err.Error(), "busy") && !strings.Contains(err.Error(), "locked") {
			t.Errorf("StartRun: %v, want a busy error", err)
		}
		t.Logf("StartRun returned: %v", err)
	case <-time.After(busyTimeout + 5*time.Second):
		t.Errorf("StartRun still waiting after %v: the write lock wait is unbounded", busyTimeout+5*time.Second)
	}
}
