package ledger

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// deliver records one delivered output of file with one subject.
func deliver(t *testing.T, l *Ledger, file int64, idx int, subject string) int64 {
	t.Helper()
	if err := l.AddSubjects(file, idx, []string{l.Pseudonym("acme-energie", subject)}); err != nil {
		t.Fatal(err)
	}
	id, err := l.StartDelivery(&Delivery{FileID: file, Index: idx, Partner: "cases", Dir: "/in",
		Name: fmt.Sprintf("out-%d-%d.csv", file, idx), TempName: ".tmp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUploaded(id); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(id, 10, hash("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	return id
}

func verifyOK(t *testing.T, l *Ledger) *AuditReport {
	t.Helper()
	r, err := l.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("VerifyAudit: %v", r.Problems)
	}
	return r
}

func TestAuditChain(t *testing.T) { forEachBackend(t, testAuditChain) }

func testAuditChain(t *testing.T) {
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	d0 := deliver(t, l, f, 0, "K1")
	d1 := deliver(t, l, f, 1, "K2")
	r := verifyOK(t, l)
	// The genesis; the file added and staged; per output: subjects,
	// started, uploaded, delivered.
	if r.Records != 11 || r.Files != 1 || r.Deliveries != 2 || r.Outputs != 2 {
		t.Errorf("report %+v, want 11 records, 1 file, 2 deliveries, 2 outputs", r)
	}

	ro, err := openReadOnlyAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if r2 := verifyOK(t, ro); r2.HeadHash != r.HeadHash {
		t.Errorf("read-only head %s, want %s", r2.HeadHash, r.HeadHash)
	}

	// A raw UPDATE of one delivery is found, and named.
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE deliveries SET partner = 'elsewhere' WHERE id = ?`, d1); err != nil {
		t.Fatal(err)
	}
	r, err = ro.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || r.Problems[0].Kind != "delivery" || r.Problems[0].Ref != fmt.Sprint(d1) {
		t.Fatalf("problems %v, want delivery %d altered", r.Problems, d1)
	}
	db.Exec(`UPDATE deliveries SET partner = 'cases' WHERE id = ?`, d1)
	verifyOK(t, l)

	// Altering the audit row itself breaks the chain at that row.
	var seq int64
	db.QueryRow(`SELECT min(seq) FROM audit WHERE kind = 'delivery' AND ref = ?`, fmt.Sprint(d0)).Scan(&seq)
	if _, err := db.Exec(`UPDATE audit SET content = replace(content, '"cases"', '"other"') WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	r, _ = l.VerifyAudit()
	if r.OK() || r.Problems[0].Seq != seq || r.Problems[0].Ref != fmt.Sprint(d0) {
		t.Fatalf("problems %v, want the chain broken at record %d (delivery %d)", r.Problems, seq, d0)
	}

	// Deleting a subject, or inserting a delivery, raw.
	l2, path2 := openTemp(t)
	f2 := stage(t, l2, newFile("b.csv"))
	deliver(t, l2, f2, 0, "K1")
	db2 := rawDB(t, path2)
	db2.Exec(`DELETE FROM subjects`)
	db2.Exec(`INSERT INTO deliveries (file_id, idx, partner, dir, name, state, started_at) VALUES (?, 5, 'x', '/', 'n', 'started', 1)`, f2)
	r, _ = l2.VerifyAudit()
	got := fmt.Sprint(r.Problems)
	if len(r.Problems) != 2 || !strings.Contains(got, "subjects "+subjectsRef(f2, 0)) || !strings.Contains(got, "not on the audit record") {
		t.Errorf("problems %v, want subjects %s deleted and a delivery not on record", r.Problems, subjectsRef(f2, 0))
	}
}

func TestAuditConcurrent(t *testing.T) { forEachBackend(t, testAuditConcurrent) }

func testAuditConcurrent(t *testing.T) {
	l, _ := openTemp(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := stage(t, l, newFile(fmt.Sprintf("c%d.csv", i)))
			for idx := range 3 {
				deliver(t, l, f, idx, fmt.Sprintf("K%d", idx))
			}
		}()
	}
	wg.Wait()
	if r := verifyOK(t, l); r.Deliveries != 24 || r.Records != 1+8*2+24*4 {
		t.Errorf("report %+v, want 24 deliveries in 113 records", r)
	}
}

func TestAuditGenesis(t *testing.T) { forEachBackend(t, testAuditGenesis) }

func testAuditGenesis(t *testing.T) {
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	deliver(t, l, f, 0, "K1")
	// As before schema version 5: no chain yet, no seq ever given.
	db := rawDB(t, path)
	for _, q := range []string{`DELETE FROM audit`, `DELETE FROM ` + seqTable(path) + ` WHERE name = 'audit'`,
		`DELETE FROM meta WHERE key = 'audit_genesis'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if _, err := openReadOnlyAt(path); err == nil {
		t.Error("OpenReadOnly of a ledger whose chain is not started: no error")
	}
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := verifyOK(t, l); r.Records != 4 || r.Files != 1 {
		t.Errorf("genesis chained %d records, want 4 (the genesis, one file, one delivery, one output)", r.Records)
	}
}

func TestPurgeRetention(t *testing.T) { forEachBackend(t, testPurgeRetention) }

func testPurgeRetention(t *testing.T) {
	l, path := openTemp(t)
	clock := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }

	oldRun, _ := l.StartRun("acme-claims-in", time.Time{})
	l.FinishRun(oldRun, "ok", 1, "", time.Time{})
	kept := stage(t, l, newFile("kept.csv"))
	deliver(t, l, kept, 0, "K1")
	l.SetState(kept, StateDone)
	other := &File{Job: "handover", Partner: "cases", Dir: "/out", Name: "h.csv", Size: 5, ModTime: mtime}
	gone := stage(t, l, other)
	deliver(t, l, gone, 0, "K2")
	l.SetState(gone, StateDone)
	failing := stage(t, l, newFile("failing.csv"))
	fd := deliver(t, l, failing, 0, "K3") // delivered to one, then failing
	l.Fail(failing, "deliver: refused")

	clock = clock.AddDate(7, 1, 0)
	recent := stage(t, l, newFile("recent.csv"))
	deliver(t, l, recent, 0, "K4")
	l.SetState(recent, StateDone)
	newRun, _ := l.StartRun("acme-claims-in", time.Time{})
	l.FinishRun(newRun, "ok", 1, "", time.Time{})

	opts := PurgeOptions{Files: clock.AddDate(-7, 0, 0), Runs: clock.AddDate(0, 0, -90), DryRun: true}
	dry, err := l.Purge(opts)
	if err != nil {
		t.Fatal(err)
	}
	want := PurgeResult{Files: 2, Deliveries: 2, Subjects: 2, Runs: 1, Kept: 2}
	if dry != want {
		t.Errorf("dry run %+v, want %+v", dry, want)
	}
	if f, err := l.File(kept); err != nil || f.State != StateDone {
		t.Fatalf("dry run purged: %v", err)
	}
	opts.DryRun = false
	res, err := l.Purge(opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Audit == 0 {
		t.Error("no audit row removed")
	}
	res.Audit = 0
	if res != want {
		t.Errorf("purge %+v, want %+v", res, want)
	}
	for _, id := range []int64{kept, gone} {
		if _, err := l.File(id); err == nil {
			t.Errorf("file %d not purged", id)
		}
	}
	for _, id := range []int64{failing, recent} {
		if _, err := l.File(id); err != nil {
			t.Errorf("file %d purged: %v", id, err)
		}
	}
	if ds, _ := l.Deliveries(failing); len(ds) != 1 || ds[0].ID != fd {
		t.Errorf("failing file's deliveries %+v", ds)
	}
	if runs, _ := l.Runs("", 0); len(runs) != 1 || runs[0].ID != newRun {
		t.Errorf("runs after purge %+v, want run %d alone", runs, newRun)
	}
	f := newFile("kept.csv")
	if ok, err := l.Kept(f.Job, f.Partner, f.Dir, f.Name, f.Size, f.ModTime); !ok || err != nil {
		t.Errorf("Kept(kept.csv) = %v, %v", ok, err)
	}
	if ok, _ := l.Kept(other.Job, other.Partner, other.Dir, other.Name, other.Size, other.ModTime); !ok {
		t.Error("a purged file of another job left no identity")
	}
	// Imported answers for a whole listing what Lookup and Kept answer
	// for one file, across more names than one of its queries asks.
	listed := []Listed{{"kept.csv", f.Size, f.ModTime}, {"failing.csv", f.Size, f.ModTime},
		{"kept.csv", f.Size + 1, f.ModTime}, {"kept.csv", f.Size, f.ModTime.Add(time.Second)}, {"h.csv", 5, mtime}}
	for i := range 2 * importedChunk {
		listed = append(listed, Listed{fmt.Sprintf("n%d.csv", i), f.Size, f.ModTime})
	}
	listed = append(listed, Listed{"failing.csv", f.Size, f.ModTime})
	got, err := l.Imported(f.Job, f.Partner, f.Dir, listed)
	if err != nil || len(got) != len(listed) {
		t.Fatalf("Imported = %d answers, %v; want %d", len(got), err, len(listed))
	}
	for i, g := range got {
		if want := i <= 1 || i == len(listed)-1; g != want {
			t.Errorf("Imported(%+v) = %v, want %v", listed[i], g, want)
		}
	}

	r := verifyOK(t, l)
	if r.FromSeq == 0 {
		t.Errorf("no checkpoint: %+v", r)
	}
	ro, err := openReadOnlyAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	verifyOK(t, ro)

	// Everything goes later; the chain still verifies, and keeps growing.
	clock = clock.AddDate(8, 0, 0)
	l.SetState(failing, StateRejected)
	if _, err := l.Purge(PurgeOptions{Files: clock.AddDate(-7, 0, 0), Runs: clock}); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, l)
	next := stage(t, l, newFile("next.csv"))
	deliver(t, l, next, 0, "K5")
	verifyOK(t, l)

	// A moved checkpoint is found.
	db := rawDB(t, path)
	db.Exec(`UPDATE audit_checkpoint SET upto_seq = upto_seq - 1`)
	if r, _ := l.VerifyAudit(); r.OK() || r.Problems[0].Kind != "checkpoint" {
		t.Errorf("problems %v, want the checkpoint", r.Problems)
	}
}

// TestAuditSubjectsOf: subjects recorded with their creditor are on the
// chain, and so is the creditor: changing whose debtor a subject is, raw,
// is found.
func TestAuditSubjectsOf(t *testing.T) { forEachBackend(t, testAuditSubjectsOf) }

func testAuditSubjectsOf(t *testing.T) {
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	subs := []Subject{{Pseudonym: l.Pseudonym("acme-energie", "K1"), Creditor: "acme-energie"}}
	if err := l.AddSubjectsOf(f, 0, subs); err != nil {
		t.Fatal(err)
	}
	if r := verifyOK(t, l); r.Outputs != 1 {
		t.Fatalf("report %+v, want 1 output", r)
	}
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE subjects SET creditor = 'other'`); err != nil {
		t.Fatal(err)
	}
	wantSubjectsAltered(t, l, f)
}
