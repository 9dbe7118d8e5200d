package ledger

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// transformedWithDelivery stages a file, moves it to transformed, and
// begins its delivery 0 to cases:dir, failed once.
func transformedWithDelivery(t *testing.T, l *Ledger, name, dir string) (file, delivery int64) {
	t.Helper()
	file = stage(t, l, newFile(name))
	if err := l.SetState(file, StateTransformed); err != nil {
		t.Fatal(err)
	}
	if err := l.AddSubjects(file, 0, []string{l.Pseudonym("acme-energie", "D-1")}); err != nil {
		t.Fatal(err)
	}
	delivery, err := l.StartDelivery(&Delivery{FileID: file, Index: 0, Partner: "cases", Dir: dir, Name: name,
		TempName: ".exchanged-1-0-ab.part", Size: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fail(file, "destination 0 (cases): no such directory"); err != nil {
		t.Fatal(err)
	}
	return file, delivery
}

// A retry supersedes the delivery begun for a destination the job no
// longer names, keeps it on record as a disclosure, clears the failures,
// lets a fresh delivery of the same output begin, and is recorded with
// who and why on the audit chain.
func TestRetrySupersedesChangedDestination(t *testing.T) {
	forEachBackend(t, testRetrySupersedesChangedDestination)
}

func testRetrySupersedesChangedDestination(t *testing.T) {
	l, _ := openTemp(t)
	file, old := transformedWithDelivery(t, l, "claims_1.csv", "/wrong")
	current := []Destination{{Index: 0, Partner: "cases", Dir: "/inbox"}, {Index: -1, Partner: "acme-energie", Dir: "/rejects"}}
	res, err := l.Retry(file, current, "jan (os user ops)", "dir fixed in config")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Superseded) != 1 || res.Superseded[0].ID != old || res.Superseded[0].Dir != "/wrong" || res.Superseded[0].SupersededAt.IsZero() {
		t.Fatalf("Superseded = %+v", res.Superseded)
	}
	if got := MayHold(res.Superseded[0]); !strings.Contains(got, ".exchanged-1-0-ab.part") {
		t.Errorf("MayHold = %q, want the temp name", got)
	}
	f, _ := l.File(file)
	if f.Attempts != 0 || f.Error != "" || f.State != StateTransformed {
		t.Errorf("file after retry = %+v", f)
	}
	if ds, _ := l.Deliveries(file); len(ds) != 0 {
		t.Errorf("current deliveries after retry = %+v, want none", ds)
	}
	wantErr(t, l.MarkUploaded(old), ErrNotFound) // a superseded delivery is never resumed
	fresh, err := l.StartDelivery(&Delivery{FileID: file, Index: 0, Partner: "cases", Dir: "/inbox", Name: "claims_1.csv", TempName: ".t"})
	if err != nil {
		t.Fatalf("fresh delivery after retry: %v", err)
	}
	if _, err := l.StartDelivery(&Delivery{FileID: file, Index: 0, Partner: "cases", Dir: "/inbox", Name: "claims_1.csv"}); !errors.Is(err, ErrExists) {
		t.Errorf("a second current delivery of one output: %v, want ErrExists", err)
	}
	all, err := l.AllDeliveries(file)
	if err != nil || len(all) != 2 || all[0].ID != old || all[0].SupersededAt.IsZero() || all[1].ID != fresh || !all[1].SupersededAt.IsZero() {
		t.Fatalf("AllDeliveries = %+v, %v", all, err)
	}
	ds, err := l.Disclosures(l.Pseudonym("acme-energie", "D-1"))
	if err != nil || len(ds) != 2 || ds[0].Dir != "/wrong" || ds[0].State != DisclosureSent {
		t.Errorf("Disclosures = %+v, %v: the old destination stays a disclosure", ds, err)
	}
	as, err := l.FileActions(file)
	if err != nil || len(as) != 1 {
		t.Fatalf("FileActions = %+v, %v", as, err)
	}
	a := as[0]
	if a.Action != ActionRetry || a.Actor != "jan (os user ops)" || a.Reason != "dir fixed in config" || a.State != StateTransformed ||
		a.Job != "acme-claims-in" || a.Name != "claims_1.csv" || a.At.IsZero() {
		t.Errorf("action = %+v", a)
	}
	var detail struct {
		Superseded []map[string]any `json:"superseded"`
		Error      string           `json:"error"`
		Attempts   int              `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(a.Detail), &detail); err != nil || len(detail.Superseded) != 1 ||
		detail.Superseded[0]["dir"] != "/wrong" || detail.Attempts != 1 || !strings.Contains(detail.Error, "no such directory") {
		t.Errorf("detail = %s (%v)", a.Detail, err)
	}
	verifyOK(t, l)

	// Nothing changed: nothing superseded, failures cleared all the same.
	if _, err := l.Fail(file, "again"); err != nil {
		t.Fatal(err)
	}
	res, err = l.Retry(file, current, "jan", "")
	if err != nil || len(res.Superseded) != 0 {
		t.Fatalf("retry with the destination unchanged = %+v, %v", res, err)
	}
	if f, _ := l.File(file); f.Attempts != 0 {
		t.Errorf("attempts after a second retry = %d", f.Attempts)
	}
	verifyOK(t, l)
}

func TestRetryRefuses(t *testing.T) { forEachBackend(t, testRetryRefuses) }

func testRetryRefuses(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("a.csv"))
	if err := l.SetState(id, StateDone); err != nil {
		t.Fatal(err)
	}
	_, err := l.Retry(id, nil, "jan", "")
	wantErr(t, err, ErrState)
	_, err = l.Retry(999, nil, "jan", "")
	wantErr(t, err, ErrNotFound)
	pending := stage(t, l, newFile("b.csv"))
	for _, actor := range []string{"", "  ", "jan\nINFO forged"} {
		if _, err := l.Retry(pending, nil, actor, ""); err == nil {
			t.Errorf("Retry by %q: no error", actor)
		}
	}
	if _, err := l.Retry(pending, nil, "jan", "two\nlines"); err == nil {
		t.Error("Retry with a control character in the reason: no error")
	}
	if as, _ := l.FileActions(0); len(as) != 0 {
		t.Errorf("actions recorded by refused calls: %+v", as)
	}
}

// An abandoned file is finished: no longer pending or stuck, still found
// by its identity (so that a source still standing is not staged again),
// with who and why on record and on the audit chain.
func TestAbandon(t *testing.T) { forEachBackend(t, testAbandon) }

func testAbandon(t *testing.T) {
	l, path := openTemp(t)
	file, open := transformedWithDelivery(t, l, "claims_1.csv", "/wrong")
	for _, reason := range []string{"", "   ", "a\nb", strings.Repeat("x", MaxReasonLen+1)} {
		if _, err := l.Abandon(file, "jan", reason, nil); err == nil {
			t.Errorf("Abandon with reason %q: no error", reason)
		}
	}
	res, err := l.Abandon(file, "jan (os user ops)", "creditor sent it twice, ticket 42", map[string]any{"staging": []string{"1.src"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.File.State != StateTransformed || len(res.Open) != 1 || res.Open[0].ID != open {
		t.Errorf("AbandonResult = %+v", res)
	}
	f, _ := l.File(file)
	if f.State != StateRejected {
		t.Errorf("state after abandon = %s", f.State)
	}
	if p, _ := l.Pending("acme-claims-in"); len(p) != 0 {
		t.Errorf("Pending after abandon = %+v", p)
	}
	if s, _ := l.Stuck("", ""); len(s) != 0 {
		t.Errorf("Stuck after abandon = %+v", s)
	}
	src := newFile("claims_1.csv")
	if _, err := l.Lookup(src.Job, src.Partner, src.Dir, src.Name, src.Size, src.ModTime); err != nil {
		t.Errorf("Lookup of the abandoned file's identity: %v (it would be staged again)", err)
	}
	as, _ := l.FileActions(file)
	if len(as) != 1 || as[0].Action != ActionAbandon || as[0].Reason != "creditor sent it twice, ticket 42" ||
		as[0].Actor != "jan (os user ops)" || as[0].State != StateTransformed || !strings.Contains(as[0].Detail, `"staging":["1.src"]`) ||
		!strings.Contains(as[0].Detail, `"open_deliveries"`) {
		t.Errorf("actions = %+v", as)
	}
	_, err = l.Abandon(file, "jan", "again", nil)
	wantErr(t, err, ErrState)
	verifyOK(t, l)

	// The action is on the audit chain: altering its reason shows.
	if _, err := rawDB(t, path).Exec(`UPDATE file_actions SET reason = 'nothing to see' WHERE id = ?`, as[0].ID); err != nil {
		t.Fatal(err)
	}
	r, err := l.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Problems) != 1 || r.Problems[0].Kind != "action" {
		t.Errorf("VerifyAudit after altering an action = %+v", r.Problems)
	}
}

func TestStuck(t *testing.T) { forEachBackend(t, testStuck) }

func testStuck(t *testing.T) {
	l, _ := openTemp(t)
	a := stage(t, l, newFile("a.csv"))
	b := stage(t, l, newFile("b.csv"))
	other := newFile("c.csv")
	other.Job = "other"
	c := stage(t, l, other)
	done := stage(t, l, newFile("d.csv"))
	if err := l.SetState(done, StateDone); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fail(b, "boom"); err != nil {
		t.Fatal(err)
	}
	ids := func(job, state string) []int64 {
		t.Helper()
		fs, err := l.Stuck(job, state)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return out
	}
	for _, c := range []struct {
		job, state string
		want       []int64
	}{
		{"", "", []int64{a, b, c}},
		{"acme-claims-in", "", []int64{a, b}},
		{"", "failed", []int64{b}},
		{"", "pending", []int64{a, c}},
		{"other", "failed", nil},
	} {
		if got := ids(c.job, c.state); !slices.Equal(got, c.want) {
			t.Errorf("Stuck(%q, %q) = %v, want %v", c.job, c.state, got, c.want)
		}
	}
	if _, err := l.Stuck("", "bogus"); err == nil {
		t.Error("Stuck with an unknown state: no error")
	}
}

// Migration 007 rebuilds the audit table: its AUTOINCREMENT counter is
// carried, so that no seq is given twice.
func TestMigrate007CarriesAuditSequence(t *testing.T) {
	forEachBackend(t, testMigrate007CarriesAuditSequence)
}

func testMigrate007CarriesAuditSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := createPrivate(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations(sqliteDialect{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := db.Exec(ms[i]); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	for _, q := range []string{
		`PRAGMA user_version = 6`,
		`INSERT INTO audit (seq, kind, ref, content, at, hash) VALUES (41, 'purge', '1', 'x', 1, 'h')`,
		`DELETE FROM audit`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var seq int64
	var kind string
	if err := l.db.QueryRow(`SELECT seq, kind FROM audit ORDER BY seq LIMIT 1`).Scan(&seq, &kind); err != nil {
		t.Fatal(err)
	}
	if seq != 42 || kind != auditGenesis {
		t.Errorf("first audit row after migration = %d %s, want 42 genesis", seq, kind)
	}
	start := time.Now()
	id := stage(t, l, newFile("a.csv"))
	if _, err := l.Abandon(id, "jan", "test", nil); err != nil {
		t.Fatalf("abandon on a migrated ledger: %v", err)
	}
	if as, _ := l.FileActions(id); len(as) != 1 || as[0].At.Before(start.Add(-time.Second)) {
		t.Errorf("actions = %+v", as)
	}
}
