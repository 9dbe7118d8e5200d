package ledger

import (
	"testing"
	"time"
)

func TestMergedWrites(t *testing.T) { forEachBackend(t, testMergedWrites) }

// testMergedWrites: the writes that record two steps at once
// (StartTransformedDelivery, MarkDeliveredDone) record both or neither,
// each in one write, and the audit chain covers them as it covers the
// steps written one by one.
func testMergedWrites(t *testing.T) {
	l, _ := openTemp(t)
	unread := func(id int64) int {
		t.Helper()
		var n int
		if err := l.db.QueryRow(`SELECT count(*) FROM unread WHERE file_id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	d := func(file int64) *Delivery {
		return &Delivery{FileID: file, Index: 0, Partner: "cases", Dir: "/in", Name: "a.csv", TempName: ".tmp",
			Size: 1234, SHA256: hash("a.csv")}
	}

	// Not staged yet: neither the step nor the delivery is recorded.
	early := addFile(t, l, newFile("early.csv"))
	before := l.WriteStats()
	_, err := l.StartTransformedDelivery(d(early), true)
	wantErr(t, err, ErrState)
	if ds, _ := l.Deliveries(early); len(ds) != 0 || unread(early) != 0 {
		t.Fatalf("a refused start left %d deliveries, %d unread marks", len(ds), unread(early))
	}

	id := stage(t, l, newFile("a.csv"))
	l.Fail(id, "upload: refused")
	del := d(id)
	did, err := l.StartTransformedDelivery(del, true)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(id); f.State != StateTransformed || unread(id) != 1 {
		t.Fatalf("after StartTransformedDelivery: state %s, %d unread marks; want transformed, 1", f.State, unread(id))
	}
	if ds, _ := l.Deliveries(id); len(ds) != 1 || ds[0].ID != did || ds[0].State != DeliveryStarted || ds[0].TempName != ".tmp" {
		t.Fatalf("deliveries %+v", ds)
	}
	if err := l.MarkUploaded(did); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(did, 1234, hash("a.csv"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Delivered with another size: refused, and the file not done.
	wantErr(t, l.MarkDeliveredDone(did, 1, hash("a.csv"), time.Time{}, id), ErrState)
	if f, _ := l.File(id); f.State != StateTransformed {
		t.Fatalf("state %s after a refused MarkDeliveredDone, want transformed", f.State)
	}
	// Delivered already with this size and sha256: done is recorded.
	if err := l.MarkDeliveredDone(did, 1234, hash("a.csv"), time.Time{}, id); err != nil {
		t.Fatal(err)
	}
	f, _ := l.File(id)
	if f.State != StateDone || f.Attempts != 0 || f.Error != "" {
		t.Fatalf("after MarkDeliveredDone: %+v; want done, failures cleared", f)
	}

	// The usual way: uploaded, then delivered and done in one write.
	id2 := stage(t, l, newFile("b.csv"))
	d2 := d(id2)
	d2.Name = "b.csv"
	did2, err := l.StartTransformedDelivery(d2, false)
	if err != nil {
		t.Fatal(err)
	}
	if unread(id2) != 0 {
		t.Error("unread marked when not asked")
	}
	if err := l.MarkUploaded(did2); err != nil {
		t.Fatal(err)
	}
	w := l.WriteStats()
	if err := l.MarkDeliveredDone(did2, 1234, hash("a.csv"), time.Time{}, id2); err != nil {
		t.Fatal(err)
	}
	if got := l.WriteStats().Writes - w.Writes; got != 1 {
		t.Errorf("MarkDeliveredDone took %d writes, want 1", got)
	}
	if ds, _ := l.Deliveries(id2); len(ds) != 1 || ds[0].State != DeliveryDelivered {
		t.Fatalf("deliveries %+v", ds)
	}
	if f, _ := l.File(id2); f.State != StateDone {
		t.Fatalf("state %s, want done", f.State)
	}
	if err := l.MarkDeliveredDone(did2, 1234, hash("a.csv"), time.Time{}, id2); err != nil {
		t.Errorf("again: %v", err)
	}
	if l.WriteStats().Writes <= before.Writes {
		t.Error("WriteStats counted nothing")
	}
	verifyOK(t, l)
}
