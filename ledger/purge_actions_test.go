package ledger

import (
	"testing"
	"time"
)

// An operator's action goes with its file's record: after a file was
// abandoned and another delivered, purging both leaves no audit record
// naming either (before, the abandon's record was never marked purged,
// and the head of the chain was never removed past it again), and the
// chain verifies from its checkpoint.
func TestPurgeTakesActionsWithTheirFile(t *testing.T) {
	forEachBackend(t, testPurgeTakesActionsWithTheirFile)
}

func testPurgeTakesActionsWithTheirFile(t *testing.T) {
	l, _ := openTemp(t)
	a := stage(t, l, newFile("a.csv"))
	if _, err := l.Abandon(a, "jan", "ticket 1", nil); err != nil {
		t.Fatal(err)
	}
	b := stage(t, l, newFile("b.csv"))
	if err := l.SetState(b, StateTransformed); err != nil {
		t.Fatal(err)
	}
	d, err := l.StartDelivery(&Delivery{FileID: b, Index: 0, Partner: "cases", Dir: "/inbox", Name: "b.csv", TempName: ".t0", Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUploaded(d); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(d, 1, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := l.SetState(b, StateDone); err != nil {
		t.Fatal(err)
	}
	kept := stage(t, l, newFile("k.csv")) // pending: stays, staged after the others, with its action
	if _, err := l.Retry(kept, nil, "jan", "ticket 2"); err != nil {
		t.Fatal(err)
	}
	var res PurgeResult
	for i := 0; i < 2; i++ {
		r, err := l.Purge(PurgeOptions{Files: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			res = r
		}
	}
	if res.Files != 2 || res.Actions != 1 {
		t.Errorf("purge = %+v, want 2 files and 1 action", res)
	}
	for _, name := range []string{"a.csv", "b.csv", "ticket 1"} {
		var n int
		if err := l.db.QueryRow(`SELECT count(*) FROM audit WHERE content LIKE '%' || ? || '%'`, name).Scan(&n); err != nil || n != 0 {
			t.Errorf("audit records naming %s after purge: %d (%v)", name, n, err)
		}
	}
	if as, _ := l.FileActions(0); len(as) != 1 || as[0].FileID != kept || as[0].Reason != "ticket 2" {
		t.Errorf("actions after purge = %+v, want the pending file's only", as)
	}
	verifyOK(t, l)
	// The pending file's action goes once its file does.
	if err := l.SetState(kept, StateDone); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Purge(PurgeOptions{Files: time.Now().Add(time.Hour)}); err != nil || r.Actions != 1 {
		t.Fatalf("second purge = %+v, %v", r, err)
	}
	if as, _ := l.FileActions(0); len(as) != 0 {
		t.Errorf("actions left = %+v", as)
	}
	var n int
	l.db.QueryRow(`SELECT count(*) FROM audit WHERE kind NOT IN ('purge', 'genesis')`).Scan(&n)
	if n != 0 {
		t.Errorf("%d audit records of purged records left before the checkpoint", n)
	}
	verifyOK(t, l)
}
