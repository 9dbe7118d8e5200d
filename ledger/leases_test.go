package ledger

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/pgtest"
)

// openCluster opens two nodes' ledgers on one fresh PostgreSQL database,
// as OpenPostgresCluster does for each node of a cluster.
func openCluster(t *testing.T) (a, b *Ledger) {
	t.Helper()
	dsn := pgtest.DSN(t)
	var ls [2]*Ledger
	for i := range ls {
		l, err := OpenPostgresCluster(dsn, testKey(dsn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls[i] = l
	}
	return ls[0], ls[1]
}

// waitExpired waits, a bounded time, until lease name has expired in the
// database's clock.
func waitExpired(t *testing.T, l *Ledger, name string) {
	t.Helper()
	for range 100 {
		var expired bool
		if err := l.leases.QueryRow(`SELECT expires_at < clock_timestamp() FROM leases WHERE name = ?`, name).Scan(&expired); err != nil {
			t.Fatal(err)
		}
		if expired {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("lease %s did not expire", name)
}

// A lease is held by one node until it expires; then another takes it
// with a new token, the old holder can neither renew it nor write under
// it (ErrFenced, nothing applied, its callback called), and the new
// holder can. A released lease is free at once.
func TestLeaseTakeoverFences(t *testing.T) {
	ctx := context.Background()
	a, b := openCluster(t)
	const name = "job:acme-claims-in"
	t1, ok, err := a.TakeLease(ctx, name, "node-a", 300*time.Millisecond)
	if err != nil || !ok || t1 == 0 {
		t.Fatalf("a takes: %d %v %v", t1, ok, err)
	}
	if tok, ok, err := b.TakeLease(ctx, name, "node-b", time.Minute); err != nil || ok || tok != 0 {
		t.Fatalf("b takes a held lease: %d %v %v", tok, ok, err)
	}
	if h, err := b.LeaseHolder(ctx, name); err != nil || h.Node != "node-a" || h.Token != t1 {
		t.Fatalf("holder = %+v, %v", h, err)
	}
	if ok, err := a.RenewLease(ctx, name, t1, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("a renews: %v %v", ok, err)
	}
	var aFenced atomic.Int32
	fa := a.Fenced(name, t1, func() { aFenced.Add(1) })
	if _, err := fa.AddFile(newFile("before.csv")); err != nil {
		t.Fatalf("a writes under its lease: %v", err)
	}

	waitExpired(t, a, name)
	if _, err := fa.AddFile(newFile("expired.csv")); !errors.Is(err, ErrFenced) {
		t.Fatalf("a writes under an expired lease: %v, want ErrFenced", err)
	}
	t2, ok, err := b.TakeLease(ctx, name, "node-b", time.Minute)
	if err != nil || !ok || t2 <= t1 {
		t.Fatalf("b takes the expired lease: %d (a's %d) %v %v", t2, t1, ok, err)
	}
	if ok, err := a.RenewLease(ctx, name, t1, time.Minute); err != nil || ok {
		t.Fatalf("a renews a lease taken over: %v %v", ok, err)
	}
	if _, err := fa.AddFile(newFile("late.csv")); !errors.Is(err, ErrFenced) {
		t.Fatalf("a writes under a lease taken over: %v, want ErrFenced", err)
	}
	if n := aFenced.Load(); n != 2 {
		t.Fatalf("a's fenced callback called %d times, want 2", n)
	}
	for _, n := range []string{"expired.csv", "late.csv"} {
		if _, err := b.Lookup("acme-claims-in", "acme-energie", "/outbox", n, 1234, mtime); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: a fenced write was applied: %v", n, err)
		}
	}
	fb := b.Fenced(name, t2, nil)
	if _, err := fb.AddFile(newFile("b.csv")); err != nil {
		t.Fatalf("b writes under its lease: %v", err)
	}
	// a's old token releases nothing; b's frees the lease for a at once.
	if err := a.ReleaseLease(ctx, name, t1); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.TakeLease(ctx, name, "node-a", time.Minute); ok {
		t.Fatal("a took the lease back after releasing an old token")
	}
	if err := b.ReleaseLease(ctx, name, t2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LeaseHolder(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("released lease: %v", err)
	}
	if t3, ok, err := a.TakeLease(ctx, name, "node-a", time.Minute); err != nil || !ok || t3 <= t2 {
		t.Fatalf("a takes the released lease: %d %v %v", t3, ok, err)
	}
	if _, err := fb.AddFile(newFile("b2.csv")); !errors.Is(err, ErrFenced) {
		t.Fatalf("b writes under a lease it released: %v", err)
	}
}

// A write under a lease holds the lease row FOR SHARE until it commits:
// a takeover of the lease, expired meanwhile, waits for it, so that no
// write of the old holder lands after the new holder took over. The old
// holder's next write is refused.
func TestLeaseTakeoverWaitsForWrite(t *testing.T) {
	ctx := context.Background()
	a, b := openCluster(t)
	const name = "job:acme-claims-in"
	t1, ok, err := a.TakeLease(ctx, name, "node-a", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("a takes: %v %v", ok, err)
	}
	fa := a.Fenced(name, t1, nil)
	inTx, release, written := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		written <- fa.update(func(tx *sql.Tx) error {
			select {
			case <-inTx:
			default:
				close(inTx)
			}
			<-release
			_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('fenced-write', 'a')`)
			return err
		})
	}()
	select {
	case <-inTx:
	case <-time.After(10 * time.Second):
		t.Fatal("the fenced write did not begin")
	}
	waitExpired(t, b, name)
	took := make(chan int64, 1)
	go func() {
		tok, ok, err := b.TakeLease(ctx, name, "node-b", time.Minute)
		if err != nil || !ok {
			tok = -1
		}
		took <- tok
	}()
	select {
	case tok := <-took:
		t.Fatalf("the takeover (token %d) did not wait for the write under the old lease", tok)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-written; err != nil {
		t.Fatalf("the write under the lease, begun before it expired: %v", err)
	}
	select {
	case tok := <-took:
		if tok <= t1 {
			t.Fatalf("takeover after the write: token %d (old %d)", tok, t1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the takeover did not go ahead once the write committed")
	}
	var v string
	if err := b.db.QueryRow(`SELECT value FROM meta WHERE key = 'fenced-write'`).Scan(&v); err != nil || v != "a" {
		t.Fatalf("the write: %q %v", v, err)
	}
	if _, err := fa.AddFile(newFile("after.csv")); !errors.Is(err, ErrFenced) {
		t.Fatalf("a write after the takeover: %v, want ErrFenced", err)
	}
}

// On SQLite there are no leases: the calls say so, and the ledger's
// writes are as before.
func TestLeasesSQLite(t *testing.T) {
	l, _ := openTemp(t)
	if _, _, err := l.TakeLease(context.Background(), "job:x", "n", time.Minute); !errors.Is(err, errNoLeases) {
		t.Fatalf("TakeLease on SQLite: %v", err)
	}
	if _, err := l.RenewLease(context.Background(), "job:x", 1, time.Minute); !errors.Is(err, errNoLeases) {
		t.Fatalf("RenewLease on SQLite: %v", err)
	}
	id := addFile(t, l, newFile("a.csv"))
	if node, err := l.StagedOn(id); err != nil || node != "" {
		t.Fatalf("staged on %q, %v; want none", node, err)
	}
	if err := l.SetStagedOn(id, "vm-1"); err != nil {
		t.Fatal(err)
	}
	if node, err := l.StagedOn(id); err != nil || node != "vm-1" {
		t.Fatalf("staged on %q, %v", node, err)
	}
	if err := l.SetStagedOn(id+1, "vm-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown file: %v", err)
	}
}

// A cluster and a process that owns the ledger alone never run on one
// ledger together: each is refused (ErrBusy) while the other is open.
func TestClusterExcludesOwner(t *testing.T) {
	dsn := pgtest.DSN(t)
	c, err := OpenPostgresCluster(dsn, testKey(dsn))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := OpenPostgres(dsn, testKey(dsn)); !errors.Is(err, ErrBusy) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("owner beside a cluster node: %v, want ErrBusy", err)
	}
	c.Close()
	o, err := OpenPostgres(dsn, testKey(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if l, err := OpenPostgresCluster(dsn, testKey(dsn)); !errors.Is(err, ErrBusy) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("cluster node beside an owner: %v, want ErrBusy", err)
	}
}

// A file rejected whole is marked rejecting (MarkRejecting) before its
// source is cleaned in a cluster, on both databases; the mark is fenced
// like every write under a lease, and read by another node.
func TestMarkRejecting(t *testing.T) {
	forEachBackend(t, func(t *testing.T) {
		l, _ := openTemp(t)
		id := addFile(t, l, newFile("a.csv"))
		if rej, err := l.Rejecting(id); err != nil || rej {
			t.Fatalf("rejecting = %v, %v; want false", rej, err)
		}
		if err := l.MarkRejecting(id); err != nil {
			t.Fatal(err)
		}
		if err := l.MarkRejecting(id); err != nil {
			t.Fatalf("marked twice: %v", err)
		}
		if rej, err := l.Rejecting(id); err != nil || !rej {
			t.Fatalf("rejecting = %v, %v; want true", rej, err)
		}
		if err := l.MarkRejecting(id + 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown file: %v", err)
		}
		if _, err := l.Rejecting(id + 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown file: %v", err)
		}
	})
	ctx := context.Background()
	a, b := openCluster(t)
	id := addFile(t, a, newFile("a.csv"))
	tok, ok, err := a.TakeLease(ctx, "job:j", "node-a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("take: %v %v", ok, err)
	}
	if err := a.ReleaseLease(ctx, "job:j", tok); err != nil {
		t.Fatal(err)
	}
	if err := a.Fenced("job:j", tok, nil).MarkRejecting(id); !errors.Is(err, ErrFenced) {
		t.Fatalf("marked under a lease released: %v, want ErrFenced", err)
	}
	if rej, err := b.Rejecting(id); err != nil || rej {
		t.Fatalf("a fenced mark applied: %v %v", rej, err)
	}
}
