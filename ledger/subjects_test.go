package ledger

import (
	"errors"
	"testing"
	"time"
)

// Subjects recorded with their creditor are found by that creditor's
// pseudonym, an unread file by UnreadDisclosures, and a read-only ledger
// beside the writer sees both and writes nothing.
func TestSubjectDisclosuresAndBreachScope(t *testing.T) {
	forEachBackend(t, testSubjectDisclosuresAndBreachScope)
}

func testSubjectDisclosuresAndBreachScope(t *testing.T) {
	l, path := openTemp(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	add := func(job, partner, name string) int64 {
		t.Helper()
		id, err := l.AddFile(&File{Job: job, Partner: partner, Dir: "/out", Name: name, Size: 1, ModTime: t0})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	deliver := func(file int64, partner, name string, at time.Time, confirm bool) {
		t.Helper()
		id, err := l.StartDelivery(&Delivery{FileID: file, Index: 0, Partner: partner, Dir: "/in", Name: name, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if confirm {
			if err := l.MarkDelivered(id, 1, "", at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	k1, k2 := l.Pseudonym("acme", "K-1"), l.Pseudonym("acme", "K-2")
	handover := add("handover", "cases", "h.csv")
	if err := l.AddSubjectsOf(handover, 0, []Subject{{Pseudonym: k1, Creditor: "acme"}, {Pseudonym: k2, Creditor: "acme"}, {Pseudonym: l.Pseudonym("cases", "K-9")}}); err != nil {
		t.Fatal(err)
	}
	deliver(handover, "gdw", "h.csv", t0, true)
	other := add("handover", "cases", "h2.csv")
	if err := l.AddSubjectsOf(other, 0, []Subject{{Pseudonym: k2, Creditor: "acme"}}); err != nil {
		t.Fatal(err)
	}
	deliver(other, "adv", "h2.csv", t0.Add(time.Hour), false)
	docs := add("docs", "cases", "d.pdf")
	if err := l.MarkUnread(docs); err != nil {
		t.Fatal(err)
	}
	deliver(docs, "acme", "d.pdf", t0.Add(2*time.Hour), true)

	ro, err := openReadOnlyAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Pseudonym("acme", "K-1") != k1 {
		t.Fatal("the read-only ledger has another key")
	}
	ds, err := ro.SubjectDisclosures(k1)
	if err != nil || len(ds) != 1 || ds[0].Partner != "gdw" || ds[0].Creditor != "acme" || ds[0].State != DisclosureConfirmed {
		t.Fatalf("disclosures of K-1 = %+v, %v", ds, err)
	}
	ds, err = ro.SubjectDisclosures(k2)
	if err != nil || len(ds) != 2 || ds[1].Partner != "adv" || ds[1].State != DisclosureSent {
		t.Fatalf("disclosures of K-2 = %+v, %v", ds, err)
	}
	un, err := ro.UnreadDisclosures()
	if err != nil || len(un) != 1 || un[0].Name != "d.pdf" || un[0].Source != "cases" {
		t.Fatalf("unread = %+v, %v", un, err)
	}
	bs, n, err := ro.BreachScope("gdw", "", time.Time{}, time.Time{})
	if err != nil || n != 3 || len(bs) != 1 || bs[0].Subjects != 3 || bs[0].Creditors["acme"] != 2 || bs[0].Creditors[""] != 1 {
		t.Fatalf("breach of gdw = %+v, %d, %v", bs, n, err)
	}
	if bs, n, err := ro.BreachScope("adv", "", t0, t0.Add(time.Hour)); err != nil || n != 0 || len(bs) != 0 {
		t.Fatalf("breach of adv before its delivery = %+v, %d, %v", bs, n, err)
	}
	if _, err := ro.db.Exec(`DELETE FROM unread`); err == nil {
		t.Fatal("a read-only ledger wrote")
	}
	if _, err := OpenReadOnly(path + "-missing"); err == nil {
		t.Fatal("opened a missing ledger")
	}
	if err := l.AddSubjectsOf(handover, 0, []Subject{{Pseudonym: "K-1", Creditor: "acme"}}); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("a raw reference was accepted: %v", err)
	}
}
