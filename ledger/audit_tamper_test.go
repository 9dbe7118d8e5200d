package ledger

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// problemsHave fails the test unless some problem of r, as printed,
// holds each of want.
func problemsHave(t *testing.T, r *AuditReport, want ...string) {
	t.Helper()
	got := fmt.Sprint(r.Problems)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("problems %v: want one with %q", r.Problems, w)
		}
	}
}

func mustExec(t *testing.T, l *Ledger, path string, qs ...string) {
	t.Helper()
	db := rawDB(t, path)
	for _, q := range qs {
		if isDSN(path) && strings.HasPrefix(q, "PRAGMA ") {
			continue // SQLite's connection settings; PostgreSQL always enforces foreign keys
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func verifyBroken(t *testing.T, l *Ledger, anchors ...Anchor) *AuditReport {
	t.Helper()
	r, err := l.VerifyAudit(anchors...)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatalf("VerifyAudit: OK (head %d), want a problem", r.HeadSeq)
	}
	return r
}

// cutTail removes, raw, the audit rows after seq and the file g with its
// deliveries and subjects they covered: what one with write access to
// the database and no key can do.
func cutTail(t *testing.T, l *Ledger, path string, seq, g int64) {
	t.Helper()
	mustExec(t, l, path,
		fmt.Sprintf(`DELETE FROM audit WHERE seq > %d`, seq),
		fmt.Sprintf(`DELETE FROM deliveries WHERE file_id = %d`, g),
		fmt.Sprintf(`DELETE FROM subjects WHERE file_id = %d`, g),
		fmt.Sprintf(`DELETE FROM files WHERE id = %d`, g))
}

// twoFiles records two delivered files, with the chain's head after the
// first (r0) and after the second (noted), and returns the second's id.
func twoFiles(t *testing.T) (l *Ledger, path string, r0, noted *AuditReport, g int64) {
	t.Helper()
	l, path = openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	deliver(t, l, f, 0, "K1")
	r0 = verifyOK(t, l)
	g = stage(t, l, newFile("b.csv"))
	deliver(t, l, g, 0, "K2")
	return l, path, r0, verifyOK(t, l), g
}

// A cut tail is found when the daemon appends after it: seq no longer
// runs on without a gap (AUTOINCREMENT keeps counting).
func TestAuditCutTailLeavesSeqGap(t *testing.T) { forEachBackend(t, testAuditCutTailLeavesSeqGap) }

func testAuditCutTailLeavesSeqGap(t *testing.T) {
	l, path, r0, noted, g := twoFiles(t)
	cutTail(t, l, path, r0.HeadSeq, g)
	h := stage(t, l, newFile("c.csv"))
	deliver(t, l, h, 0, "K3")
	r := verifyBroken(t, l)
	problemsHave(t, r, fmt.Sprintf("records %d to %d are missing", r0.HeadSeq+1, noted.HeadSeq))
	// The noted head names the cut too.
	r = verifyBroken(t, l, Anchor{Seq: noted.HeadSeq, Hash: noted.HeadHash})
	problemsHave(t, r, fmt.Sprintf("anchor %d", noted.HeadSeq))
}

// With sqlite_sequence reset too, the daemon's next rows chain on
// validly: only a head noted outside the ledger (an anchor) finds the
// cut. Re-writing the rows oneself, without the key, breaks the chain.
func TestAuditCutTailSequenceReset(t *testing.T) { forEachBackend(t, testAuditCutTailSequenceReset) }

func testAuditCutTailSequenceReset(t *testing.T) {
	l, path, r0, noted, g := twoFiles(t)
	cutTail(t, l, path, r0.HeadSeq, g)
	mustExec(t, l, path, fmt.Sprintf(`UPDATE %s SET seq = %d WHERE name = 'audit'`, seqTable(path), r0.HeadSeq))
	h := stage(t, l, newFile("c.csv"))
	deliver(t, l, h, 0, "K3")
	deliver(t, l, h, 1, "K4")
	verifyOK(t, l) // the chain alone cannot tell
	r := verifyBroken(t, l, Anchor{Seq: noted.HeadSeq, Hash: noted.HeadHash})
	problemsHave(t, r, fmt.Sprintf("anchor %d", noted.HeadSeq), "does not hold the noted hash")
	// Anchored at an earlier row that still stands: fine.
	verifyOK(t, l)
	if r, _ := l.VerifyAudit(Anchor{Seq: r0.HeadSeq, Hash: r0.HeadHash}); !r.OK() {
		t.Errorf("anchor at a standing row: %v", r.Problems)
	}
}

// Closing a gap by renumbering the rows after it needs the key: seq is
// under the HMAC.
func TestAuditRenumberBreaksChain(t *testing.T) { forEachBackend(t, testAuditRenumberBreaksChain) }

func testAuditRenumberBreaksChain(t *testing.T) {
	l, path, r0, noted, _ := twoFiles(t)
	// Remove one delivery's last record and renumber the rows after it.
	var seq int64
	db := rawDB(t, path)
	db.QueryRow(`SELECT min(seq) FROM audit WHERE seq > ?`, r0.HeadSeq).Scan(&seq)
	mustExec(t, l, path,
		fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, seq),
		fmt.Sprintf(`UPDATE audit SET seq = seq - 1 WHERE seq > %d`, seq),
		fmt.Sprintf(`UPDATE %s SET seq = %d WHERE name = 'audit'`, seqTable(path), noted.HeadSeq-1))
	r := verifyBroken(t, l)
	problemsHave(t, r, fmt.Sprintf("audit record %d): the chain breaks here", seq))
}

// A wiped chain (with every file, delivery and subject) is a break once
// the chain was started.
func TestAuditWipedChain(t *testing.T) { forEachBackend(t, testAuditWipedChain) }

func testAuditWipedChain(t *testing.T) {
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	deliver(t, l, f, 0, "K1")
	mustExec(t, l, path, `PRAGMA foreign_keys = 1`, `DELETE FROM audit`, `DELETE FROM audit_checkpoint`,
		`DELETE FROM subjects`, `DELETE FROM deliveries`, `DELETE FROM unread`, `DELETE FROM files`)
	r := verifyBroken(t, l)
	problemsHave(t, r, "the audit record is empty")

	// A fresh ledger's chain is not empty: it starts with its genesis.
	l2, _ := openTemp(t)
	if r := verifyOK(t, l2); r.Records != 1 || r.HeadSeq != 1 {
		t.Errorf("fresh ledger: %d records, head %d; want the genesis record, 1", r.Records, r.HeadSeq)
	}
}

func TestAuditAnchors(t *testing.T) { forEachBackend(t, testAuditAnchors) }

func testAuditAnchors(t *testing.T) {
	l, path := openTemp(t)
	old := stage(t, l, newFile("old.csv"))
	deliver(t, l, old, 0, "K1")
	if err := l.SetState(old, StateDone); err != nil {
		t.Fatal(err)
	}
	early := verifyOK(t, l)
	f := stage(t, l, newFile("a.csv"))
	deliver(t, l, f, 0, "K2")
	head := verifyOK(t, l)

	a := Anchor{Seq: head.HeadSeq, Hash: head.HeadHash}
	if r, _ := l.VerifyAudit(a); !r.OK() || len(r.Anchors) != 1 || r.Anchors[0].Status != AnchorHolds {
		t.Fatalf("anchor at the head: %v %+v", r.Problems, r.Anchors)
	}
	r := verifyBroken(t, l, Anchor{Seq: head.HeadSeq, Hash: strings.Repeat("0", 64)})
	problemsHave(t, r, "does not hold the noted hash")
	r = verifyBroken(t, l, Anchor{Seq: head.HeadSeq + 5, Hash: head.HeadHash})
	problemsHave(t, r, "beyond the head")

	// Purge the old file: its rows go under the checkpoint.
	if _, err := l.Purge(PurgeOptions{Files: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_ = f
	after := verifyOK(t, l)
	if after.FromSeq == 0 {
		t.Fatalf("no checkpoint after the purge: %+v", after)
	}
	var cpHash string
	rawDB(t, path).QueryRow(`SELECT last_hash FROM audit_checkpoint`).Scan(&cpHash)
	r, _ = l.VerifyAudit(Anchor{Seq: after.FromSeq, Hash: cpHash})
	if !r.OK() || r.Anchors[0].Status != AnchorCheckpoint {
		t.Errorf("anchor at the checkpoint: %v %+v", r.Problems, r.Anchors)
	}
	r = verifyBroken(t, l, Anchor{Seq: after.FromSeq, Hash: early.HeadHash + "x"})
	problemsHave(t, r, "the purge checkpoint")
	if after.FromSeq > 1 {
		r, _ = l.VerifyAudit(Anchor{Seq: 1, Hash: "whatever"})
		if !r.OK() || r.Anchors[0].Status != AnchorPurged {
			t.Errorf("anchor under the checkpoint: %v %+v", r.Problems, r.Anchors)
		}
	}
	if _, err := ParseAnchor("12:" + head.HeadHash); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", "12", "x:" + head.HeadHash, "0:" + head.HeadHash, "12:zz", "12:abc"} {
		if _, err := ParseAnchor(s); err == nil {
			t.Errorf("ParseAnchor(%q): no error", s)
		}
	}
}

// Each fact of a file that the privacy answers read is chained: a raw
// change to any of them is named.
func TestAuditFileFacts(t *testing.T) { forEachBackend(t, testAuditFileFacts) }

func testAuditFileFacts(t *testing.T) {
	for _, q := range []string{
		`UPDATE files SET job = 'otherjob'`,
		`UPDATE files SET partner = 'other'`,
		`UPDATE files SET dir = '/else'`,
		`UPDATE files SET name = 'z.csv'`,
		`UPDATE files SET size = 1`,
		`UPDATE files SET mtime = 1`,
		`UPDATE files SET sha256 = '` + strings.Repeat("a", 64) + `'`,
		`UPDATE files SET rows = 7`,
		`UPDATE files SET rejected = 1`,
		`DELETE FROM unread`,
	} {
		t.Run(q, func(t *testing.T) {
			l, path := openTemp(t)
			f := stage(t, l, newFile("a.csv"))
			if err := l.SetCounts(f, 3, 0); err != nil {
				t.Fatal(err)
			}
			if err := l.MarkUnread(f); err != nil {
				t.Fatal(err)
			}
			deliver(t, l, f, 0, "K1")
			verifyOK(t, l)
			mustExec(t, l, path, q)
			r := verifyBroken(t, l)
			problemsHave(t, r, fmt.Sprintf("file %d", f), "altered outside the ledger")
		})
	}
	// Marking unread raw is found too, and so is a file inserted raw.
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	mustExec(t, l, path, fmt.Sprintf(`INSERT INTO unread (file_id) VALUES (%d)`, f))
	problemsHave(t, verifyBroken(t, l), fmt.Sprintf("file %d", f))
	l, path = openTemp(t)
	mustExec(t, l, path, `INSERT INTO files (job, partner, dir, name, size, mtime, state, seen_at, updated_at)
		VALUES ('j', 'p', '/', 'n', 1, 1, 'staged', 1, 1)`)
	problemsHave(t, verifyBroken(t, l), "not on the audit record")
}

// A file's record follows it through the ledger's own writes, its
// deletion and its purge.
func TestAuditFileLifecycle(t *testing.T) { forEachBackend(t, testAuditFileLifecycle) }

func testAuditFileLifecycle(t *testing.T) {
	l, _ := openTemp(t)
	gone, err := l.AddFile(newFile("gone.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteFile(gone); err != nil {
		t.Fatal(err)
	}
	f := stage(t, l, newFile("a.csv"))
	if err := l.SetCounts(f, 4, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUnread(f); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUnread(f); err != nil { // again: no change, no record
		t.Fatal(err)
	}
	deliver(t, l, f, 0, "K1")
	if err := l.SetState(f, StateDone); err != nil {
		t.Fatal(err)
	}
	r := verifyOK(t, l)
	if r.Files != 1 {
		t.Errorf("%d files compared, want 1", r.Files)
	}
	if _, err := l.Purge(PurgeOptions{Files: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r = verifyOK(t, l)
	if r.Files != 0 || r.FromSeq == 0 {
		t.Errorf("after the purge: %+v, want no file and a checkpoint", r)
	}
}

// A tail cut with nothing written after it leaves a whole, shorter
// chain: the head noted before finds it.
func TestAuditCutTailFoundByAnchor(t *testing.T) { forEachBackend(t, testAuditCutTailFoundByAnchor) }

func testAuditCutTailFoundByAnchor(t *testing.T) {
	l, path, r0, noted, g := twoFiles(t)
	cutTail(t, l, path, r0.HeadSeq, g)
	verifyOK(t, l) // the chain alone cannot tell
	r := verifyBroken(t, l, Anchor{Seq: noted.HeadSeq, Hash: noted.HeadHash})
	problemsHave(t, r, fmt.Sprintf("anchor %d", noted.HeadSeq), "beyond the head")
}
