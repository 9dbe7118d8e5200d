package ledger

import (
	"strings"
	"testing"
	"time"
)

// TestCasePseudonym: a case pseudonym is keyed, stable, and never a
// debtor's pseudonym, even for a creditor partner named like the label.
func TestCasePseudonym(t *testing.T) { forEachBackend(t, testCasePseudonym) }

func testCasePseudonym(t *testing.T) {
	l, _ := openTemp(t)
	c := l.CasePseudonym("Z-100")
	if len(c) != 64 || !isHex(c) || c != l.CasePseudonym("Z-100") || c == l.CasePseudonym("Z-101") {
		t.Fatalf("case pseudonym %q: want 64 hex digits, stable, distinct per case", c)
	}
	for _, creditor := range []string{"", "case", caseLabel, "acme"} {
		if l.Pseudonym(creditor, "Z-100") == c {
			t.Errorf("the case pseudonym equals the debtor pseudonym under %q", creditor)
		}
	}
	if strings.Contains(c, "Z-100") {
		t.Error("the case reference is in its pseudonym")
	}
}

// TestCaseDisclosures: the case pseudonym of a subject row is recorded
// with it (one debtor with two cases in one output is found by each),
// CaseDisclosures finds every delivery of the case and nothing for another,
// and the chain covers it: a raw change of case_pseudonym is named by
// VerifyAudit.
func TestCaseDisclosures(t *testing.T) { forEachBackend(t, testCaseDisclosures) }

func testCaseDisclosures(t *testing.T) {
	l, path := openTemp(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	k1 := l.Pseudonym("acme", "K-1")
	c1, c2 := l.CasePseudonym("Z-1"), l.CasePseudonym("Z-2")
	f := stage(t, l, newFile("a.csv"))
	if err := l.AddSubjectsOf(f, 0, []Subject{
		{Pseudonym: k1, Creditor: "acme", Case: c1},
		{Pseudonym: k1, Creditor: "acme", Case: c2},
		{Pseudonym: l.Pseudonym("acme", "K-2"), Creditor: "acme"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.AddSubjectsOf(f, 0, []Subject{{Pseudonym: k1, Creditor: "acme", Case: "Z-1"}}); err == nil {
		t.Error("a case reference in the clear was taken for a case pseudonym")
	}
	id, err := l.StartDelivery(&Delivery{FileID: f, Index: 0, Partner: "gdw", Dir: "/in", Name: "a.csv", StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(id, 1, "", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{c1, c2} {
		ds, err := l.CaseDisclosures(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Partner != "gdw" || ds[0].Creditor != "acme" || ds[0].State != DisclosureConfirmed {
			t.Errorf("case %s: %+v, want the one delivery to gdw", c[:8], ds)
		}
	}
	if ds, err := l.CaseDisclosures(l.CasePseudonym("Z-3")); err != nil || len(ds) != 0 {
		t.Errorf("unknown case: %+v, %v", ds, err)
	}
	if ds, err := l.CaseDisclosures(""); err != nil || len(ds) != 0 {
		t.Errorf("no case: %+v, %v (rows without a case must not match)", ds, err)
	}
	// Two cases of one debtor are still one disclosure of the debtor.
	if ds, err := l.SubjectDisclosures(k1); err != nil || len(ds) != 1 {
		t.Errorf("debtor: %+v, %v, want one disclosure", ds, err)
	}
	if _, total, err := l.BreachScope("gdw", "", time.Time{}, time.Time{}); err != nil || total != 2 {
		t.Errorf("breach scope: %d subjects, %v; want 2", total, err)
	}

	verifyOK(t, l)
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE subjects SET case_pseudonym = ? WHERE case_pseudonym = ?`, l.CasePseudonym("Z-9"), c2); err != nil {
		t.Fatal(err)
	}
	wantSubjectsAltered(t, l, f)
}

// TestCaseAuditEntry: a subject row without a case is on the chain as it
// was before schema version 6 (an upgraded ledger's records still verify),
// and adding a case to a row, raw, is found.
func TestCaseAuditEntry(t *testing.T) { forEachBackend(t, testCaseAuditEntry) }

func testCaseAuditEntry(t *testing.T) {
	l, path := openTemp(t)
	k := l.Pseudonym("acme", "K-1")
	f := stage(t, l, newFile("a.csv"))
	if err := l.AddSubjectsOf(f, 0, []Subject{{Pseudonym: k, Creditor: "acme"}}); err != nil {
		t.Fatal(err)
	}
	var entry string
	if err := l.db.QueryRow(`SELECT ` + subjectEntry + ` FROM subjects`).Scan(&entry); err != nil {
		t.Fatal(err)
	}
	if entry != k+"\tacme" {
		t.Errorf("entry without a case %q, want the version 5 entry %q", entry, k+"\tacme")
	}
	verifyOK(t, l)
	if _, err := rawDB(t, path).Exec(`UPDATE subjects SET case_pseudonym = ?`, l.CasePseudonym("Z-1")); err != nil {
		t.Fatal(err)
	}
	wantSubjectsAltered(t, l, f)
}

// wantSubjectsAltered fails t unless VerifyAudit names the subjects of
// output 0 of file f, and nothing else.
func wantSubjectsAltered(t *testing.T, l *Ledger, f int64) {
	t.Helper()
	r, err := l.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || r.Problems[0].Kind != "subjects" || r.Problems[0].Ref != subjectsRef(f, 0) {
		t.Fatalf("problems %v, want subjects %s altered", r.Problems, subjectsRef(f, 0))
	}
}

// TestSubjectEntryReadsOneWay: moving a row's case pseudonym into its
// creditor (creditor TAB case, case ”) gives the same chain entry as the
// row had; VerifyAudit refuses such a row all the same, so a disclosure
// cannot be hidden from subject --case and --debtor that way.
func TestSubjectEntryReadsOneWay(t *testing.T) { forEachBackend(t, testSubjectEntryReadsOneWay) }

func testSubjectEntryReadsOneWay(t *testing.T) {
	l, path := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	if err := l.AddSubjectsOf(f, 0, []Subject{
		{Pseudonym: l.Pseudonym("acme", "K-1"), Creditor: "acme", Case: l.CasePseudonym("Z-1")},
		{Pseudonym: l.Pseudonym("acme", "K-2"), Creditor: "acme"},
	}); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, l)
	db := rawDB(t, path)
	res, err := db.Exec(`UPDATE subjects SET creditor = creditor || '` + "\t" + `' || case_pseudonym, case_pseudonym = '' WHERE case_pseudonym != ''`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("raw update: %v, %d rows", err, n)
	}
	if ds, _ := l.CaseDisclosures(l.CasePseudonym("Z-1")); len(ds) != 0 {
		t.Fatalf("the case still finds %d rows: the update did not hide it", len(ds))
	}
	r, err := l.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Problems[0].Kind != "subjects" || r.Problems[0].Ref != subjectsRef(f, 0) {
		t.Fatalf("problems %v, want the subjects of %s named", r.Problems, subjectsRef(f, 0))
	}
	if err := l.AddSubjectsOf(f, 1, []Subject{{Pseudonym: l.Pseudonym("acme", "K-3"), Creditor: "acme\tx"}}); err == nil {
		t.Error("a creditor with a tab was recorded")
	}
}

// TestPurgeCountsSubjectsNotCases: a purge counts the subjects of an
// output, not its rows: a debtor with two cases is one subject.
func TestPurgeCountsSubjectsNotCases(t *testing.T) {
	forEachBackend(t, testPurgeCountsSubjectsNotCases)
}

func testPurgeCountsSubjectsNotCases(t *testing.T) {
	l, _ := openTemp(t)
	f := stage(t, l, newFile("a.csv"))
	k1 := l.Pseudonym("acme", "K-1")
	if err := l.AddSubjectsOf(f, 0, []Subject{
		{Pseudonym: k1, Creditor: "acme", Case: l.CasePseudonym("Z-1")},
		{Pseudonym: k1, Creditor: "acme", Case: l.CasePseudonym("Z-2")},
		{Pseudonym: l.Pseudonym("acme", "K-2"), Creditor: "acme"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetState(f, StateDone); err != nil {
		t.Fatal(err)
	}
	res, err := l.Purge(PurgeOptions{Files: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Subjects != 2 {
		t.Fatalf("purge %+v, want 1 file and 2 subjects", res)
	}
	verifyOK(t, l)
}
