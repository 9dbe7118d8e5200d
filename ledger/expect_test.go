package ledger

import (
	"testing"
	"time"
)

func TestLastSeenAndOverdueAnnounced(t *testing.T) {
	forEachBackend(t, testLastSeenAndOverdueAnnounced)
}

func testLastSeenAndOverdueAnnounced(t *testing.T) {
	l, path := openTemp(t)
	if at, ok, err := l.LastSeen("acme-claims-in"); err != nil || ok || !at.IsZero() {
		t.Fatalf("LastSeen of a new ledger = %v, %v, %v", at, ok, err)
	}
	first := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for i, name := range []string{"a.csv", "b.csv"} {
		f := newFile(name)
		f.SeenAt = first.Add(time.Duration(i) * time.Hour)
		addFile(t, l, f)
	}
	other := newFile("c.csv")
	other.Job, other.SeenAt = "other", first.Add(5*time.Hour)
	addFile(t, l, other)
	if at, ok, err := l.LastSeen("acme-claims-in"); err != nil || !ok || !at.Equal(first.Add(time.Hour)) {
		t.Errorf("LastSeen = %v, %v, %v; want %v", at, ok, err, first.Add(time.Hour))
	}

	if at, err := l.OverdueAnnounced("acme-claims-in"); err != nil || !at.IsZero() {
		t.Errorf("OverdueAnnounced before any = %v, %v", at, err)
	}
	due := time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC)
	for _, d := range []time.Time{due.Add(-24 * time.Hour), due} { // the second replaces the first
		if err := l.SetOverdueAnnounced("acme-claims-in", d); err != nil {
			t.Fatal(err)
		}
	}
	l2 := reopen(t, l, path)
	if at, err := l2.OverdueAnnounced("acme-claims-in"); err != nil || !at.Equal(due) {
		t.Errorf("OverdueAnnounced after reopen = %v, %v; want %v", at, err, due)
	}
	if at, err := l2.OverdueAnnounced("other"); err != nil || !at.IsZero() {
		t.Errorf("OverdueAnnounced of another job = %v, %v", at, err)
	}
	if rep, err := l2.VerifyAudit(); err != nil || !rep.OK() {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
}

// ForgetOverdueAnnounced drops the records of the jobs not kept, only
// those: a job name with LIKE's wildcards is no pattern, other meta keys
// stay.
func TestForgetOverdueAnnounced(t *testing.T) { forEachBackend(t, testForgetOverdueAnnounced) }

func testForgetOverdueAnnounced(t *testing.T) {
	l, path := openTemp(t)
	due := time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC)
	for _, job := range []string{"acme-in", "gone", "a_b%", "axb-in"} {
		if err := l.SetOverdueAnnounced(job, due); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.ForgetOverdueAnnounced([]string{"acme-in", "a_b%", "never-announced"}); err != nil {
		t.Fatal(err)
	}
	l2 := reopen(t, l, path)
	for job, want := range map[string]time.Time{"acme-in": due, "a_b%": due, "gone": {}, "axb-in": {}, "never-announced": {}} {
		if at, err := l2.OverdueAnnounced(job); err != nil || !at.Equal(want) {
			t.Errorf("OverdueAnnounced(%q) = %v, %v; want %v", job, at, err, want)
		}
	}
	var n int
	if err := l2.db.QueryRow(`SELECT count(*) FROM meta WHERE key LIKE 'overdue_announced/%'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d overdue records left (%v), want 2", n, err)
	}
	if rep, err := l2.VerifyAudit(); err != nil || !rep.OK() {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
	if err := l2.ForgetOverdueAnnounced(nil); err != nil {
		t.Fatal(err)
	}
	if at, err := l2.OverdueAnnounced("acme-in"); err != nil || !at.IsZero() {
		t.Errorf("after forgetting all: OverdueAnnounced = %v, %v", at, err)
	}
}

// reopen closes l and opens the ledger at path again, closed at the
// test's end.
func reopen(t *testing.T, l *Ledger, path string) *Ledger {
	t.Helper()
	l.Close()
	l2, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	return l2
}
