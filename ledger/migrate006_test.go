package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// testdata/v006 is a schema-6 ledger with data, written by the ledger
// package of schema version 6 (commit 1b145c8, before migration 007),
// and its key file. It was made by this test in that tree, run with
// GEN006=path:
//
//	a := stage(a.csv); transformed; delivery 1 to cases:/inbox delivered; done; purged
//	b := stage(b.csv); transformed; subjects of output 0 (acme-energie D-1);
//	delivery 2 to cases:/wrong uploaded; delivery 3 to law:/in delivered;
//	failed "destination 0 (cases): no such directory"
//
// The file b has id 2. Opening it migrates it to 007: the audit chain,
// ids and foreign keys hold, and the new actions work on the old rows.
// SQLite only: a ledger of version 5 made by hand.
func TestMigrate006LedgerWithData(t *testing.T) { sqliteOnly(t, testMigrate006LedgerWithData) }

func testMigrate006LedgerWithData(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"ledger.db", "ledger.db.key"} {
		b, err := os.ReadFile(filepath.Join("testdata/v006", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ms, _ := migrations(sqliteDialect{})
	if v, err := l.SchemaVersion(); err != nil || v != len(ms) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(ms))
	}
	verifyOK(t, l)
	var before int64
	if err := l.db.QueryRow(`SELECT max(seq) FROM audit`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	all, err := l.AllDeliveries(2)
	if err != nil || len(all) != 2 || all[0].ID != 2 || all[0].Dir != "/wrong" || all[0].State != DeliveryUploaded ||
		all[1].ID != 3 || all[1].State != DeliveryDelivered || !all[0].SupersededAt.IsZero() {
		t.Fatalf("deliveries of file 2 after migration = %+v, %v", all, err)
	}
	if kept, err := l.Kept("acme-claims-in", "acme-energie", "/outbox", "a.csv", 1234, mtime); err != nil || !kept {
		t.Errorf("the purged a.csv is no longer kept: %v, %v", kept, err)
	}
	res, err := l.Retry(2, []Destination{{Index: 0, Partner: "cases", Dir: "/inbox"}, {Index: 1, Partner: "law", Dir: "/in"}}, "jan", "")
	if err != nil || len(res.Superseded) != 1 || res.Superseded[0].ID != 2 {
		t.Fatalf("retry on a migrated ledger = %+v, %v", res, err)
	}
	id, err := l.StartDelivery(&Delivery{FileID: 2, Index: 0, Partner: "cases", Dir: "/inbox", Name: "b.csv", TempName: ".x", Size: 1})
	if err != nil || id != 4 {
		t.Fatalf("fresh delivery = %d, %v: want id 4 (the counter carried over)", id, err)
	}
	var first int64
	if err := l.db.QueryRow(`SELECT min(seq) FROM audit WHERE seq > ?`, before).Scan(&first); err != nil || first != before+1 {
		t.Errorf("first audit record after migration = %d, %v; want %d", first, err, before+1)
	}
	verifyOK(t, l)
	rows, err := l.db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign key violations after migration")
	}
}
