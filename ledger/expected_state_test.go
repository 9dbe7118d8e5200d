package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The writes made from the state they expect still
// refuse another state with ErrState and change nothing; the merged
// writes (StartTransformedDelivery, MarkDeliveredDone) are all or
// nothing.
func TestStateExpectingWrites(t *testing.T) {
	forEachBackend(t, testStateExpectingWrites)
}

func testStateExpectingWrites(t *testing.T) {
	l, _ := openTemp(t)
	// staging → transformed: refused (MarkStaged first).
	id := addFile(t, l, newFile("a.csv"))
	wantErr(t, l.SetState(id, StateTransformed), ErrState)
	wantErr(t, l.MarkTransformed(id, true), ErrState)
	if _, err := l.StartTransformedDelivery(&Delivery{FileID: id, Partner: "cases", Dir: "/in", Name: "a.csv"}, true); !errors.Is(err, ErrState) {
		t.Fatalf("StartTransformedDelivery of a file in staging = %v, want ErrState", err)
	}
	if ds, _ := l.AllDeliveries(id); len(ds) != 0 {
		t.Fatalf("a refused StartTransformedDelivery left %d deliveries", len(ds))
	}
	if err := l.MarkStaged(id, hash("a.csv"), 1234); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.MarkStaged(id, hash("b"), 1234), ErrState)
	// The merged start: the file transformed and unread, the delivery begun.
	did, err := l.StartTransformedDelivery(&Delivery{FileID: id, Partner: "cases", Dir: "/in", Name: "a.csv", TempName: ".t"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(id); f.State != StateTransformed {
		t.Fatalf("state after StartTransformedDelivery = %s", f.State)
	}
	wantErr(t, l.SetState(id, StateCleaned), ErrState) // backward
	if err := l.SetState(id, StateTransformed); err != nil {
		t.Fatalf("SetState to the state it has = %v, want nil", err)
	}
	if err := l.MarkUploaded(did); err != nil {
		t.Fatal(err)
	}
	// Done with the last delivery: then nothing moves it.
	if err := l.MarkDeliveredDone(did, 10, hash("x"), time.Time{}, id); err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(id); f.State != StateDone {
		t.Fatalf("state after MarkDeliveredDone = %s", f.State)
	}
	wantErr(t, l.SetState(id, StateTransformed), ErrState)
	wantErr(t, l.MarkUploaded(did), ErrState)
	wantErr(t, l.MarkDelivered(did, 11, hash("x"), time.Time{}), ErrState)
	if err := l.MarkDeliveredDone(did, 10, hash("x"), time.Time{}, id); err != nil {
		t.Fatalf("MarkDeliveredDone again = %v, want nil", err)
	}
	// A second file abandoned while its delivery was under way: the
	// merged write is refused whole.
	id2 := stage(t, l, newFile("b.csv"))
	d2, err := l.StartTransformedDelivery(&Delivery{FileID: id2, Partner: "cases", Dir: "/in", Name: "b.csv", TempName: ".t"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Abandon(id2, "jan", "test", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.MarkDeliveredDone(d2, 10, hash("x"), time.Time{}, id2), ErrState)
	if f, _ := l.File(id2); f.State != StateRejected {
		t.Fatalf("abandoned file is %s", f.State)
	}
	verifyOK(t, l)
}

// A group commit of audited writes in which one
// write fails after it appended to the chain: the group is undone and
// each write runs again alone, each reading the chain's head anew; the
// chain verifies and holds one row per write that stands.
func TestAuditTipAcrossRerun(t *testing.T) { forEachBackend(t, testAuditTipAcrossRerun) }

func testAuditTipAcrossRerun(t *testing.T) {
	l, _ := openTemp(t)
	count := func() (n int) {
		if err := l.db.QueryRow(`SELECT count(*) FROM audit`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	boom := errors.New("boom")
	entered, hold := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- l.update(func(tx *sql.Tx) error {
			close(entered)
			<-hold
			_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('review3', 'v')`)
			return err
		})
	}()
	<-entered
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i == 3 {
				errs[i] = l.update(func(tx *sql.Tx) error {
					if err := l.appendAudit(tx, auditFile, "999999", "x"); err != nil {
						return err
					}
					return boom
				})
				return
			}
			_, errs[i] = l.AddFile(newFile(fmt.Sprintf("f%d.csv", i)))
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		l.wmu.Lock()
		q := len(l.queue)
		l.wmu.Unlock()
		if q == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
	}
	close(hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if i == 3 && !errors.Is(err, boom) || i != 3 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := count() - before; got != n-1 {
		t.Errorf("%d audit rows appended, want %d (one for each file)", got, n-1)
	}
	verifyOK(t, l)
}
