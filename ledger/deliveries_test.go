package ledger

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A direct delivery goes started -> writing -> uploaded -> delivered; a
// delivery whose destination changed mode starts again in the new mode,
// keeping its temp name on record.
func TestDeliveryModes(t *testing.T) { forEachBackend(t, testDeliveryModes) }

func testDeliveryModes(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	direct := &Delivery{FileID: id, Index: 0, Partner: "drop", Dir: "/in", Name: "claims_1.csv", Mode: ModeDirect}
	if _, err := l.StartDelivery(direct); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkWriting(direct.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkWriting(direct.ID); err != nil {
		t.Errorf("MarkWriting again: %v", err)
	}
	temp := &Delivery{FileID: id, Index: 1, Partner: "cases", Dir: "/in", Name: "claims_1.csv", TempName: ".exchanged-1-1-ab.part"}
	if _, err := l.StartDelivery(temp); err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartDelivery(&Delivery{FileID: id, Index: 2, Partner: "x", Name: "y", Mode: "sideways"}); err == nil {
		t.Error("StartDelivery with an unknown mode: no error")
	}
	ds, err := l.Deliveries(id)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Deliveries = %+v, %v", ds, err)
	}
	if d := ds[0]; d.Mode != ModeDirect || d.State != DeliveryWriting || d.TempName != "" {
		t.Errorf("direct delivery = %+v", d)
	}
	if d := ds[1]; d.Mode != ModeTemp || d.State != DeliveryStarted {
		t.Errorf("temp delivery = %+v", d)
	}
	if err := l.MarkUploaded(direct.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.MarkWriting(direct.ID), ErrState)

	if err := l.MarkUploaded(temp.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.RestartDelivery(temp.ID, ModeDirect); err != nil {
		t.Fatal(err)
	}
	ds, _ = l.Deliveries(id)
	if d := ds[1]; d.Mode != ModeDirect || d.State != DeliveryStarted || d.TempName != ".exchanged-1-1-ab.part" {
		t.Errorf("restarted delivery = %+v", d)
	}
	if err := l.MarkDelivered(temp.ID, 3, hash("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.RestartDelivery(temp.ID, ModeTemp), ErrState)
	if err := l.RestartDelivery(direct.ID, "sideways"); err == nil {
		t.Error("RestartDelivery to an unknown mode: no error")
	}
	wantErr(t, l.RestartDelivery(4242, ModeTemp), ErrNotFound)
}

// A ledger of schema version 1 opens with its deliveries kept: each in
// temp mode, a delivered one a confirmed disclosure, one begun a sent one,
// and no delivery id handed out again.
// SQLite only: a ledger of version 1 made by hand.
func TestMigrateDeliveriesFromV1(t *testing.T) { sqliteOnly(t, testMigrateDeliveriesFromV1) }

func testMigrateDeliveriesFromV1(t *testing.T) {
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
	subj := hash("subject")
	for _, q := range []string{
		ms[0],
		`PRAGMA user_version = 1`,
		`INSERT INTO files (id, job, partner, dir, name, size, mtime, sha256, state, seen_at, updated_at)
			VALUES (1, 'j', 'acme', '/out', 'a.csv', 3, 1, '', 'transformed', 1, 1)`,
		`INSERT INTO deliveries (id, file_id, idx, partner, dir, name, temp_name, size, sha256, state, started_at, delivered_at)
			VALUES (1, 1, 0, 'cases', '/in', 'a.csv', '.a.csv.0123456789ab.part', 3, '', 'delivered', 10, 20),
			       (2, 1, 1, 'drop', '/in', 'a.csv', '.a.csv.ba9876543210.part', 3, '', 'uploaded', 30, NULL),
			       (9, 1, 2, 'gone', '/in', 'a.csv', '.a.csv.x.part', 3, '', 'started', 40, NULL)`,
		`DELETE FROM deliveries WHERE id = 9`, // purged: id 9 is never used again
		`INSERT INTO subjects (pseudonym, file_id, idx) VALUES ('` + subj + `', 1, 0), ('` + subj + `', 1, 1)`,
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
	if v, _ := l.SchemaVersion(); v != len(ms) {
		t.Errorf("schema version %d, want %d", v, len(ms))
	}
	ds, err := l.Deliveries(1)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Deliveries = %+v, %v", ds, err)
	}
	if d := ds[0]; d.Mode != ModeTemp || d.State != DeliveryDelivered || d.TempName != ".a.csv.0123456789ab.part" ||
		!d.DeliveredAt.Equal(time.Unix(0, 20)) {
		t.Errorf("delivered row after migration = %+v", d)
	}
	if d := ds[1]; d.Mode != ModeTemp || d.State != DeliveryUploaded || d.TempName != ".a.csv.ba9876543210.part" {
		t.Errorf("uploaded row after migration = %+v", d)
	}
	got, err := l.Disclosures(subj)
	if err != nil || len(got) != 2 {
		t.Fatalf("Disclosures = %+v, %v", got, err)
	}
	if got[0].State != DisclosureConfirmed || got[1].State != DisclosureSent || got[1].Partner != "drop" {
		t.Errorf("Disclosures after migration = %+v", got)
	}
	next, err := l.StartDelivery(&Delivery{FileID: 1, Index: 3, Partner: "p", Dir: "/in", Name: "a.csv", TempName: ".t"})
	if err != nil {
		t.Fatal(err)
	}
	if next != 10 {
		t.Errorf("next delivery id = %d, want 10 (ids are never reused)", next)
	}
	if err := l.MarkWriting(next); err != nil {
		t.Errorf("the migrated table does not take state writing: %v", err)
	}
	if _, err := l.StartDelivery(&Delivery{FileID: 1, Index: 0, Partner: "p", Name: "a.csv"}); !errors.Is(err, ErrExists) {
		t.Errorf("second delivery of one output after migration: %v, want ErrExists", err)
	}
}

// A direct delivery is creating from just before its create until the
// answer: then writing, or started again if the name was taken.
func TestDeliveryCreating(t *testing.T) { forEachBackend(t, testDeliveryCreating) }

func testDeliveryCreating(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	d := &Delivery{FileID: id, Index: 0, Partner: "drop", Dir: "/in", Name: "claims_1.csv", Mode: ModeDirect}
	if _, err := l.StartDelivery(d); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := l.MarkCreating(d.ID); err != nil {
			t.Fatal(err)
		}
	}
	if ds, _ := l.Deliveries(id); ds[0].State != DeliveryCreating {
		t.Fatalf("delivery = %+v, want creating", ds[0])
	}
	if err := l.RestartDelivery(d.ID, ModeDirect); err != nil {
		t.Fatal(err)
	}
	if ds, _ := l.Deliveries(id); ds[0].State != DeliveryStarted || ds[0].Mode != ModeDirect {
		t.Fatalf("delivery = %+v, want started again", ds[0])
	}
	if err := l.MarkCreating(d.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkWriting(d.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.MarkCreating(d.ID), ErrState)
}

// DeliveriesTo finds the deliveries to one name that began or were
// delivered since a time, and every one not yet delivered.
func TestDeliveriesTo(t *testing.T) { forEachBackend(t, testDeliveriesTo) }

func testDeliveriesTo(t *testing.T) {
	l, _ := openTemp(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	files := map[string]int64{}
	start := func(name string, idx int, partner, dir, fname string, at time.Time) *Delivery {
		t.Helper()
		if files[name] == 0 {
			files[name] = stage(t, l, newFile(name))
		}
		d := &Delivery{FileID: files[name], Index: idx, Partner: partner, Dir: dir, Name: fname, StartedAt: at}
		if _, err := l.StartDelivery(d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	old := start("a.csv", 0, "p", "/in", "a.csv", t0.Add(-time.Hour))
	if err := l.MarkDelivered(old.ID, 1, hash("a"), t0.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	late := start("a.csv", 1, "p", "/in", "a.csv", t0.Add(-2*time.Hour))
	if err := l.MarkDelivered(late.ID, 1, hash("a"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	pending := start("b.csv", 0, "p", "/in", "a.csv", t0.Add(-3*time.Hour))
	recent := start("b.csv", 1, "p", "/in", "a.csv", t0)
	start("b.csv", 2, "q", "/in", "a.csv", t0)  // another partner
	start("b.csv", 3, "p", "/out", "a.csv", t0) // another dir
	start("b.csv", 4, "p", "/in", "b.csv", t0)  // another name
	got, err := l.DeliveriesTo("p", "/in", "a.csv", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	if want := []int64{pending.ID, late.ID, recent.ID}; !slices.Equal(ids, want) {
		t.Errorf("DeliveriesTo = %v, want %v (not the one delivered before)", ids, want)
	}
}
