package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// mtime is a whole second, as SFTP lists it.
var mtime = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func newFile(name string) *File {
	return &File{Job: "acme-claims-in", Partner: "acme-energie", Dir: "/outbox", Name: name,
		Size: 1234, ModTime: mtime}
}

func addFile(t *testing.T, l *Ledger, f *File) int64 {
	t.Helper()
	id, err := l.AddFile(f)
	if err != nil {
		t.Fatalf("AddFile(%s): %v", f.Name, err)
	}
	return id
}

// stage adds a file and marks it staged.
func stage(t *testing.T, l *Ledger, f *File) int64 {
	t.Helper()
	id := addFile(t, l, f)
	if err := l.MarkStaged(id, hash(f.Name), f.Size); err != nil {
		t.Fatalf("MarkStaged: %v", err)
	}
	return id
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// SQLite only: its files' modes.
func TestFileModes(t *testing.T) { sqliteOnly(t, testFileModes) }

func testFileModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	addFile(t, l, newFile("claims_1.csv")) // make SQLite write the WAL
	for _, p := range []string{path, path + ".key", path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".db" && filepath.Ext(e.Name()) != ".key" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if fi, _ := os.Stat(path + ".key"); fi.Size() != keySize {
		t.Errorf("key size %d", fi.Size())
	}
}

// SQLite only: its PRAGMAs.
func TestOpenPragmas(t *testing.T) { sqliteOnly(t, testOpenPragmas) }

func testOpenPragmas(t *testing.T) {
	l, _ := openTemp(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"busy_timeout": fmt.Sprint(busyTimeout.Milliseconds()),
	} {
		var got string
		if err := l.db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	ms, err := migrations(sqliteDialect{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := l.SchemaVersion(); err != nil || v != len(ms) {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(ms))
	}
}

// SQLite only: file paths and PRAGMA user_version.
func TestOpenErrors(t *testing.T) { sqliteOnly(t, testOpenErrors) }

func testOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing", "ledger.db")); err == nil {
		t.Error("Open in a missing directory: no error")
	}
	if _, err := Open(filepath.Join(dir, "a?b.db")); err == nil {
		t.Error("Open with '?' in the path: no error")
	}

	// A database from a newer build is refused, not downgraded.
	path := filepath.Join(dir, "newer.db")
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := openAt(path); err == nil {
		t.Error("Open of a newer schema: no error")
	}
}

// SQLite only: the database file's mode.
func TestOpenTightensDBMode(t *testing.T) { sqliteOnly(t, testOpenTightensDBMode) }

func testOpenTightensDBMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o after reopen, want 0600", fi.Mode().Perm())
	}
}

// SQLite only: the key file beside the database.
func TestKeyGuards(t *testing.T) { sqliteOnly(t, testKeyGuards) }

func testKeyGuards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	p := l.Pseudonym("acme-energie", "K1001")
	l.Close()
	key, err := os.ReadFile(path + ".key")
	if err != nil {
		t.Fatal(err)
	}

	// Readable by others: refused.
	os.Chmod(path+".key", 0o644)
	_, err = openAt(path)
	wantErr(t, err, ErrKey)
	os.Chmod(path+".key", 0o600)

	// Missing for a ledger that has pseudonyms: refused, and not recreated.
	os.Remove(path + ".key")
	_, err = openAt(path)
	wantErr(t, err, ErrKey)
	if _, err := os.Stat(path + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file recreated: %v", err)
	}

	// Another key: refused.
	other := make([]byte, keySize)
	os.WriteFile(path+".key", other, 0o600)
	_, err = openAt(path)
	wantErr(t, err, ErrKey)

	// Truncated: refused.
	os.WriteFile(path+".key", key[:16], 0o600)
	_, err = openAt(path)
	wantErr(t, err, ErrKey)

	// The right key back: pseudonyms unchanged.
	os.WriteFile(path+".key", key, 0o600)
	l, err = openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Pseudonym("acme-energie", "K1001"); got != p {
		t.Errorf("pseudonym changed across reopen")
	}
}

func TestReopenKeepsEverything(t *testing.T) { forEachBackend(t, testReopenKeepsEverything) }

func testReopenKeepsEverything(t *testing.T) {
	path := newWhere(t)
	l, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := l.StartRun("acme-claims-in", time.Time{})
	id := stage(t, l, newFile("claims_1.csv"))
	l.SetCounts(id, 10, 2)
	l.SetState(id, StateCleaned)
	did, err := l.StartDelivery(&Delivery{FileID: id, Index: 0, Partner: "cases", Dir: "/inbox/claims",
		Name: "claims_1.csv", TempName: ".claims_1.csv.part"})
	if err != nil {
		t.Fatal(err)
	}
	subj := l.Pseudonym("acme-energie", "K1001")
	l.AddSubjects(id, 0, []string{subj})
	at := time.Date(2025, 3, 14, 10, 0, 0, 123456789, time.UTC)
	if err := l.MarkDelivered(did, 1200, hash("out"), at); err != nil {
		t.Fatal(err)
	}
	l.FinishRun(run, "ok", 1, "", time.Time{})
	before, _ := l.File(id)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.Lookup("acme-claims-in", "acme-energie", "/outbox", "claims_1.csv", 1234, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !f.SeenAt.Equal(before.SeenAt) || !f.UpdatedAt.Equal(before.UpdatedAt) || !f.ModTime.Equal(before.ModTime) {
		t.Errorf("times after reopen = %+v, want %+v", f, before)
	}
	g, b := *f, *before
	g.SeenAt, g.UpdatedAt, g.ModTime = time.Time{}, time.Time{}, time.Time{}
	b.SeenAt, b.UpdatedAt, b.ModTime = time.Time{}, time.Time{}, time.Time{}
	if g != b {
		t.Errorf("file after reopen = %+v, want %+v", g, b)
	}
	if f.State != StateCleaned || f.SHA256 != hash("claims_1.csv") || f.Rows != 10 || f.Rejected != 2 {
		t.Errorf("file after reopen = %+v", f)
	}
	ds, _ := l.Deliveries(id)
	if len(ds) != 1 || ds[0].State != DeliveryDelivered || !ds[0].DeliveredAt.Equal(at) || ds[0].Size != 1200 ||
		ds[0].TempName != ".claims_1.csv.part" {
		t.Errorf("deliveries after reopen = %+v", ds)
	}
	if got := l.Pseudonym("acme-energie", "K1001"); got != subj {
		t.Error("pseudonym changed across reopen")
	}
	dis, _ := l.Disclosures(subj)
	if len(dis) != 1 || dis[0].Partner != "cases" {
		t.Errorf("disclosures after reopen = %+v", dis)
	}
	runs, _ := l.Runs("acme-claims-in", 10)
	if len(runs) != 1 || runs[0].Outcome != "ok" || runs[0].Files != 1 || runs[0].FinishedAt.IsZero() {
		t.Errorf("runs after reopen = %+v", runs)
	}
}

func TestLookupIdentity(t *testing.T) { forEachBackend(t, testLookupIdentity) }

func testLookupIdentity(t *testing.T) {
	l, _ := openTemp(t)
	f := newFile("claims_1.csv")
	id := addFile(t, l, f)
	if f.ID != id || f.State != StateStaging || f.SeenAt.IsZero() || f.UpdatedAt.IsZero() {
		t.Errorf("AddFile left f = %+v", f)
	}

	// The same instant in another zone is the same identity.
	got, err := l.Lookup(f.Job, f.Partner, f.Dir, f.Name, f.Size, mtime.In(time.FixedZone("CET", 3600)))
	if err != nil || got.ID != id {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	if !got.ModTime.Equal(mtime) || got.State != StateStaging {
		t.Errorf("Lookup = %+v", got)
	}

	for name, try := range map[string]func() (*File, error){
		"job":     func() (*File, error) { return l.Lookup("other", f.Partner, f.Dir, f.Name, f.Size, mtime) },
		"partner": func() (*File, error) { return l.Lookup(f.Job, "other", f.Dir, f.Name, f.Size, mtime) },
		"dir":     func() (*File, error) { return l.Lookup(f.Job, f.Partner, "/other", f.Name, f.Size, mtime) },
		"name":    func() (*File, error) { return l.Lookup(f.Job, f.Partner, f.Dir, "claims_2.csv", f.Size, mtime) },
		"size":    func() (*File, error) { return l.Lookup(f.Job, f.Partner, f.Dir, f.Name, f.Size+1, mtime) },
		"second": func() (*File, error) {
			return l.Lookup(f.Job, f.Partner, f.Dir, f.Name, f.Size, mtime.Add(time.Second))
		},
		"nanosecond": func() (*File, error) {
			return l.Lookup(f.Job, f.Partner, f.Dir, f.Name, f.Size, mtime.Add(time.Nanosecond))
		},
	} {
		if _, err := try(); !errors.Is(err, ErrNotFound) {
			t.Errorf("other %s: err = %v, want ErrNotFound", name, err)
		}
	}

	// Nanosecond mtimes (a local endpoint) are kept exactly.
	g := newFile("claims_ns.csv")
	g.ModTime = mtime.Add(987654321)
	addFile(t, l, g)
	if got, err := l.Lookup(g.Job, g.Partner, g.Dir, g.Name, g.Size, g.ModTime); err != nil || !got.ModTime.Equal(g.ModTime) {
		t.Errorf("Lookup ns = %v, %v", got, err)
	}

	// Whatever its state, a file is found.
	stage(t, l, newFile("claims_3.csv"))
	f3, _ := l.Lookup(f.Job, f.Partner, f.Dir, "claims_3.csv", f.Size, mtime)
	l.SetState(f3.ID, StateDone)
	if got, err := l.Lookup(f.Job, f.Partner, f.Dir, "claims_3.csv", f.Size, mtime); err != nil || got.State != StateDone {
		t.Errorf("Lookup of a done file = %v, %v", got, err)
	}
}

func TestAddFileDuplicate(t *testing.T) { forEachBackend(t, testAddFileDuplicate) }

func testAddFileDuplicate(t *testing.T) {
	l, _ := openTemp(t)
	addFile(t, l, newFile("claims_1.csv"))
	_, err := l.AddFile(newFile("claims_1.csv"))
	wantErr(t, err, ErrExists)

	// The same name with another mtime or size is another file.
	g := newFile("claims_1.csv")
	g.ModTime = g.ModTime.Add(time.Minute)
	addFile(t, l, g)
	h := newFile("claims_1.csv")
	h.Size++
	addFile(t, l, h)

	if _, err := l.AddFile(&File{Job: "j", Name: "x"}); err == nil {
		t.Error("AddFile without partner: no error")
	}
}

func TestMarkStaged(t *testing.T) { forEachBackend(t, testMarkStaged) }

func testMarkStaged(t *testing.T) {
	l, _ := openTemp(t)
	id := addFile(t, l, newFile("claims_1.csv"))
	wantErr(t, l.MarkStaged(id, hash("x"), 999), ErrSizeMismatch)
	if f, _ := l.File(id); f.State != StateStaging || f.SHA256 != "" {
		t.Errorf("after size mismatch: %+v", f)
	}
	if err := l.MarkStaged(id, "not-a-hash", 1234); err == nil {
		t.Error("MarkStaged with a bad hash: no error")
	}
	if err := l.MarkStaged(id, hash("x"), 1234); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkStaged(id, hash("x"), 1234); err != nil {
		t.Errorf("MarkStaged again, same hash: %v", err)
	}
	wantErr(t, l.MarkStaged(id, hash("y"), 1234), ErrState)
	if f, _ := l.File(id); f.State != StateStaged || f.SHA256 != hash("x") {
		t.Errorf("after MarkStaged: %+v", f)
	}
	wantErr(t, l.MarkStaged(4242, hash("x"), 1), ErrNotFound)
	if f, _ := l.File(id); f.StagedOn != "" {
		t.Errorf("staged on %q without a node", f.StagedOn)
	}

	// In a cluster the node that holds the copy is recorded in the same
	// write; none given leaves what was recorded.
	on := addFile(t, l, newFile("claims_2.csv"))
	if err := l.MarkStagedOn(on, hash("z"), 1234, "vm-2"); err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(on); f.State != StateStaged || f.SHA256 != hash("z") || f.StagedOn != "vm-2" {
		t.Errorf("after MarkStagedOn: %+v", f)
	}
	kept := addFile(t, l, newFile("claims_3.csv"))
	if err := l.SetStagedOn(kept, "vm-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkStaged(kept, hash("w"), 1234); err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(kept); f.StagedOn != "vm-1" {
		t.Errorf("MarkStaged without a node changed staged_on to %q", f.StagedOn)
	}
}

func TestForwardOnlyStates(t *testing.T) { forEachBackend(t, testForwardOnlyStates) }

func testForwardOnlyStates(t *testing.T) {
	l, _ := openTemp(t)
	id := addFile(t, l, newFile("claims_1.csv"))
	wantErr(t, l.SetState(id, StateStaged), ErrState) // needs MarkStaged
	wantErr(t, l.SetState(id, StateCleaned), ErrState)
	wantErr(t, l.SetState(id, "bogus"), ErrState)
	wantErr(t, l.SetState(4242, StateDone), ErrNotFound)
	if err := l.MarkStaged(id, hash("x"), 1234); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		state string
		ok    bool
	}{
		{StateCleaned, true},
		{StateCleaned, true}, // recorded again after a crash
		{StateStaged, false},
		{StateStaging, false},
		{StateTransformed, true},
		{StateCleaned, false},
		{StateDone, true},
		{StateRejected, false},
		{StateTransformed, false},
		{StateDone, true},
	}
	for _, s := range steps {
		err := l.SetState(id, s.state)
		if s.ok && err != nil {
			t.Errorf("→ %s: %v", s.state, err)
		}
		if !s.ok {
			wantErr(t, err, ErrState)
		}
	}
	if f, _ := l.File(id); f.State != StateDone {
		t.Errorf("state %s, want done", f.State)
	}

	// Skipping forward is a forward move.
	id2 := stage(t, l, newFile("claims_2.csv"))
	if err := l.SetState(id2, StateDone); err != nil {
		t.Errorf("staged → done: %v", err)
	}

	// Any pending state may be rejected, and rejected is final.
	for _, n := range []string{"r1", "r2", "r3"} {
		id := addFile(t, l, newFile(n))
		if n != "r1" {
			l.MarkStaged(id, hash(n), 1234)
		}
		if n == "r3" {
			l.SetState(id, StateTransformed)
		}
		if err := l.SetState(id, StateRejected); err != nil {
			t.Errorf("%s → rejected: %v", n, err)
		}
		wantErr(t, l.SetState(id, StateDone), ErrState)
	}
}

func TestCountsAndFailures(t *testing.T) { forEachBackend(t, testCountsAndFailures) }

func testCountsAndFailures(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	if err := l.SetCounts(id, 100, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCounts(id, 1, 3); err == nil {
		t.Error("more rejected than rows: no error")
	}
	wantErr(t, l.SetCounts(4242, 1, 0), ErrNotFound)
	for want := 1; want <= 3; want++ {
		n, err := l.Fail(id, "sftp: connection lost")
		if err != nil || n != want {
			t.Fatalf("Fail = %d, %v; want %d", n, err, want)
		}
	}
	f, _ := l.File(id)
	if f.Rows != 100 || f.Rejected != 3 || f.Attempts != 3 || f.Error != "sftp: connection lost" {
		t.Errorf("file = %+v", f)
	}
	if err := l.ClearFailures(id); err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(id); f.Attempts != 0 || f.Error != "" {
		t.Errorf("after ClearFailures: %+v", f)
	}
	if _, err := l.Fail(4242, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fail of a missing file: %v", err)
	}
	wantErr(t, l.ClearFailures(4242), ErrNotFound)
	// Reaching done clears the failures in the same write.
	if _, err := l.Fail(id, "sftp: connection lost"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetState(id, StateDone); err != nil {
		t.Fatal(err)
	}
	if f, _ := l.File(id); f.State != StateDone || f.Attempts != 0 || f.Error != "" {
		t.Errorf("done after a failure: %+v", f)
	}
	if _, err := l.File(4242); !errors.Is(err, ErrNotFound) {
		t.Errorf("File of a missing id: %v", err)
	}
}

func TestDeleteFile(t *testing.T) { forEachBackend(t, testDeleteFile) }

func testDeleteFile(t *testing.T) {
	l, _ := openTemp(t)
	f := newFile("claims_1.csv")
	id := addFile(t, l, f)
	if err := l.DeleteFile(id); err != nil {
		t.Fatal(err)
	}
	if _, err := l.File(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted file still there: %v", err)
	}
	// Seen again on the next run, under a new id: ids are never reused.
	if again := addFile(t, l, newFile("claims_1.csv")); again == id {
		t.Errorf("id %d reused", id)
	}
	wantErr(t, l.DeleteFile(id), ErrNotFound)

	id = stage(t, l, newFile("claims_2.csv"))
	wantErr(t, l.DeleteFile(id), ErrState)
	l.SetState(id, StateDone)
	wantErr(t, l.DeleteFile(id), ErrState)
	if _, err := l.File(id); err != nil {
		t.Errorf("guarded file gone: %v", err)
	}
}

func TestPending(t *testing.T) { forEachBackend(t, testPending) }

func testPending(t *testing.T) {
	l, _ := openTemp(t)
	base := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	add := func(job, name string, seen time.Duration) int64 {
		f := newFile(name)
		f.Job, f.SeenAt = job, base.Add(seen)
		return addFile(t, l, f)
	}
	c := add("a", "c.csv", 3*time.Minute)
	b := add("a", "b.csv", 2*time.Minute)
	a := add("a", "a.csv", 1*time.Minute)
	done := add("a", "done.csv", 0)
	rejected := add("a", "rejected.csv", 0)
	other := add("b", "other.csv", 0)
	l.MarkStaged(done, hash("d"), 1234)
	l.SetState(done, StateDone)
	l.SetState(rejected, StateRejected)
	l.MarkStaged(b, hash("b"), 1234)
	l.SetState(b, StateTransformed)

	got, err := l.Pending("a")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, f := range got {
		ids = append(ids, f.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint([]int64{a, b, c}) {
		t.Errorf("Pending(a) = %v, want %v", ids, []int64{a, b, c})
	}
	if got[1].State != StateTransformed || got[1].SHA256 != hash("b") {
		t.Errorf("pending file = %+v", got[1])
	}
	if got, _ := l.Pending("b"); len(got) != 1 || got[0].ID != other {
		t.Errorf("Pending(b) = %+v", got)
	}
	if got, _ := l.Pending("none"); len(got) != 0 {
		t.Errorf("Pending(none) = %+v", got)
	}
	counts, err := l.PendingCount()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != "map[a:3 b:1]" {
		t.Errorf("PendingCount = %v", counts)
	}
}

func TestDeliveries(t *testing.T) { forEachBackend(t, testDeliveries) }

func testDeliveries(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	start := func(idx int) (int64, error) {
		return l.StartDelivery(&Delivery{FileID: id, Index: idx, Partner: "gdw-jansen", Dir: "/in",
			Name: fmt.Sprintf("out_%d.csv", idx), TempName: fmt.Sprintf(".out_%d.csv.tmp", idx)})
	}
	d1, err := start(1)
	if err != nil {
		t.Fatal(err)
	}
	d0, _ := start(0)
	drej, _ := start(-1)
	if _, err := start(1); !errors.Is(err, ErrExists) {
		t.Errorf("second delivery of index 1: %v", err)
	}
	if _, err := l.StartDelivery(&Delivery{FileID: 4242, Partner: "p", Name: "n"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("delivery of a missing file: %v", err)
	}

	ds, err := l.Deliveries(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || ds[0].ID != drej || ds[1].ID != d0 || ds[2].ID != d1 {
		t.Fatalf("Deliveries = %+v", ds)
	}
	for _, d := range ds {
		if d.State != DeliveryStarted || d.StartedAt.IsZero() || !d.DeliveredAt.IsZero() || d.TempName == "" {
			t.Errorf("started delivery = %+v", d)
		}
	}

	at := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	if err := l.MarkUploaded(d1); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUploaded(d1); err != nil {
		t.Errorf("MarkUploaded again: %v", err)
	}
	wantErr(t, l.MarkUploaded(4242), ErrNotFound)
	ds, _ = l.Deliveries(id)
	if ds[2].State != DeliveryUploaded {
		t.Errorf("uploaded = %+v", ds[2])
	}
	if err := l.MarkDelivered(d1, 99, hash("o"), at); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.MarkUploaded(d1), ErrState)
	if err := l.MarkDelivered(d1, 99, hash("o"), at.Add(time.Hour)); err != nil {
		t.Errorf("MarkDelivered again, same result: %v", err)
	}
	wantErr(t, l.MarkDelivered(d1, 100, hash("o"), at), ErrState)
	wantErr(t, l.MarkDelivered(4242, 1, "", at), ErrNotFound)
	ds, _ = l.Deliveries(id)
	if d := ds[2]; d.State != DeliveryDelivered || d.Size != 99 || d.SHA256 != hash("o") || !d.DeliveredAt.Equal(at) {
		t.Errorf("delivered = %+v", d)
	}
	if ds, _ := l.Deliveries(4242); len(ds) != 0 {
		t.Errorf("Deliveries of a missing file = %+v", ds)
	}

	// The expected size and sha256 given at the start are kept, and an
	// empty sha256 at the end keeps the one given at the start.
	want := &Delivery{FileID: id, Index: 7, Partner: "p", Name: "n", Size: 5, SHA256: hash("n")}
	d7, err := l.StartDelivery(want)
	if err != nil {
		t.Fatal(err)
	}
	if want.ID != d7 || want.Size != 5 || want.SHA256 != hash("n") || want.State != DeliveryStarted {
		t.Errorf("StartDelivery left d = %+v", want)
	}
	ds, _ = l.Deliveries(id)
	if d := ds[len(ds)-1]; d.Size != 5 || d.SHA256 != hash("n") {
		t.Errorf("started = %+v", d)
	}
	if err := l.MarkDelivered(d7, 5, "", at); err != nil {
		t.Fatal(err)
	}
	ds, _ = l.Deliveries(id)
	if d := ds[len(ds)-1]; d.State != DeliveryDelivered || d.SHA256 != hash("n") {
		t.Errorf("delivered = %+v", d)
	}
	if _, err := l.StartDelivery(&Delivery{FileID: id, Index: 8, Partner: "p", Name: "n", SHA256: "XYZ"}); err == nil {
		t.Error("StartDelivery with a bad sha256: no error")
	}
}

func TestPseudonym(t *testing.T) { forEachBackend(t, testPseudonym) }

func testPseudonym(t *testing.T) {
	l, _ := openTemp(t)
	p := l.Pseudonym("acme-energie", "K1001")
	if len(p) != 64 || !isHex(p) {
		t.Fatalf("pseudonym %q", p)
	}
	if l.Pseudonym("acme-energie", "K1001") != p {
		t.Error("pseudonym not stable")
	}
	for _, q := range []string{
		l.Pseudonym("other-creditor", "K1001"),
		l.Pseudonym("acme-energie", "K1002"),
		l.Pseudonym("acme-energieK", "1001"), // the separator matters
		hash("acme-energie\x00K1001"),        // keyed, not a plain hash
	} {
		if q == p {
			t.Errorf("pseudonym collides: %s", q)
		}
	}
	// Another ledger, another key.
	l2, _ := openTemp(t)
	if l2.Pseudonym("acme-energie", "K1001") == p {
		t.Error("two ledgers share a key")
	}
}

func TestDisclosures(t *testing.T) { forEachBackend(t, testDisclosures) }

func testDisclosures(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	alice := l.Pseudonym("acme-energie", "K1001")
	bob := l.Pseudonym("acme-energie", "K1002")
	if err := l.AddSubjects(id, 0, []string{alice, bob, alice}); err != nil {
		t.Fatal(err)
	}
	if err := l.AddSubjects(id, 0, []string{alice}); err != nil {
		t.Errorf("AddSubjects again: %v", err)
	}
	if err := l.AddSubjects(id, 1, []string{alice}); err != nil {
		t.Fatal(err)
	}
	if err := l.AddSubjects(id, 0, []string{alice, "K1003"}); err == nil {
		t.Error("AddSubjects with a raw reference: no error")
	} else if want := "K1003"; contains(err.Error(), want) {
		t.Errorf("error holds the reference: %v", err)
	}
	if err := l.AddSubjects(4242, 0, []string{alice}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddSubjects to a missing file: %v", err)
	}
	var n int
	l.db.QueryRow(`SELECT count(*) FROM subjects`).Scan(&n)
	if n != 3 {
		t.Errorf("%d subject rows, want 3", n)
	}

	d0, _ := l.StartDelivery(&Delivery{FileID: id, Index: 0, Partner: "cases", Dir: "/inbox", Name: "a.csv"})
	d1, _ := l.StartDelivery(&Delivery{FileID: id, Index: 1, Partner: "gdw-jansen", Dir: "/in", Name: "b.csv"})
	l.MarkUploaded(d0)
	// Started is sent: the bytes may be with the partner already.
	got, err := l.Disclosures(alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].DeliveryID != d0 || got[1].DeliveryID != d1 {
		t.Fatalf("Disclosures(alice) before delivery = %+v", got)
	}
	for _, g := range got {
		if g.State != DisclosureSent || g.SentAt.IsZero() || !g.DeliveredAt.IsZero() {
			t.Errorf("disclosure before delivery = %+v, want sent, not confirmed", g)
		}
	}
	at := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	l.MarkDelivered(d1, 10, hash("b"), at)

	got, err = l.Disclosures(alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Disclosures(alice) = %+v", got)
	}
	want := Disclosure{Job: "acme-claims-in", FileID: id, DeliveryID: d1, Index: 1, Partner: "gdw-jansen",
		Dir: "/in", Name: "b.csv", SHA256: hash("b"), State: DisclosureConfirmed}
	g := got[1]
	if !g.DeliveredAt.Equal(at) || g.SentAt.IsZero() {
		t.Errorf("DeliveredAt = %v, SentAt = %v", g.DeliveredAt, g.SentAt)
	}
	g.DeliveredAt, g.SentAt = time.Time{}, time.Time{}
	if g != want {
		t.Errorf("Disclosures(alice)[1] = %+v, want %+v", g, want)
	}
	if got[0].Partner != "cases" || got[0].State != DisclosureSent {
		t.Errorf("Disclosures(alice)[0] = %+v", got[0])
	}
	if got, _ := l.Disclosures(bob); len(got) != 1 || got[0].Partner != "cases" {
		t.Errorf("Disclosures(bob) = %+v", got)
	}
	if got, _ := l.Disclosures(l.Pseudonym("other", "K1001")); len(got) != 0 {
		t.Errorf("Disclosures(other creditor) = %+v", got)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestPurge(t *testing.T) { forEachBackend(t, testPurge) }

func testPurge(t *testing.T) {
	l, _ := openTemp(t)
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }

	old := stage(t, l, newFile("old.csv"))
	d, _ := l.StartDelivery(&Delivery{FileID: old, Index: 0, Partner: "cases", Name: "old.csv"})
	l.MarkDelivered(d, 1, "", time.Time{})
	subj := l.Pseudonym("acme-energie", "K1001")
	l.AddSubjects(old, 0, []string{subj})
	l.SetState(old, StateDone)
	oldRejected := addFile(t, l, newFile("old-rejected.csv"))
	l.SetState(oldRejected, StateRejected)
	oldPending := stage(t, l, newFile("old-pending.csv"))
	oldStaging := addFile(t, l, newFile("old-staging.csv"))

	clock = clock.AddDate(0, 2, 0)
	recent := stage(t, l, newFile("recent.csv"))
	l.SetState(recent, StateDone)

	res, err := l.Purge(PurgeOptions{Files: clock.AddDate(0, -1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Files; n != 2 {
		t.Errorf("Purge = %d, want 2", n)
	}
	for _, id := range []int64{old, oldRejected} {
		if _, err := l.File(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("file %d not purged: %v", id, err)
		}
	}
	for _, id := range []int64{oldPending, oldStaging, recent} {
		if _, err := l.File(id); err != nil {
			t.Errorf("file %d purged: %v", id, err)
		}
	}
	var deliveries, subjects int
	l.db.QueryRow(`SELECT count(*) FROM deliveries`).Scan(&deliveries)
	l.db.QueryRow(`SELECT count(*) FROM subjects`).Scan(&subjects)
	if deliveries != 0 || subjects != 0 {
		t.Errorf("left %d deliveries, %d subjects", deliveries, subjects)
	}
	if got, _ := l.Disclosures(subj); len(got) != 0 {
		t.Errorf("disclosures after purge: %+v", got)
	}
	if res, _ := l.Purge(PurgeOptions{Files: clock.AddDate(0, -1, 0)}); res.Files != 0 {
		t.Errorf("second Purge = %+v", res)
	}
}

func TestRuns(t *testing.T) { forEachBackend(t, testRuns) }

func testRuns(t *testing.T) {
	l, _ := openTemp(t)
	base := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var ids []int64
	for i := range 5 {
		id, err := l.StartRun("a", base.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	l.StartRun("b", base)
	if err := l.FinishRun(ids[4], "failed", 2, "sftp: dial: timeout", base.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.FinishRun(4242, "ok", 0, "", base), ErrNotFound)
	runs, err := l.Runs("a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].ID != ids[4] || runs[1].ID != ids[3] || runs[2].ID != ids[2] {
		t.Fatalf("Runs = %+v", runs)
	}
	r := runs[0]
	if r.Job != "a" || r.Outcome != "failed" || r.Files != 2 || r.Error != "sftp: dial: timeout" ||
		!r.StartedAt.Equal(base.Add(4*time.Minute)) || !r.FinishedAt.Equal(base.Add(5*time.Minute)) {
		t.Errorf("run = %+v", r)
	}
	if runs[1].Outcome != "" || !runs[1].FinishedAt.IsZero() {
		t.Errorf("running run = %+v", runs[1])
	}
	if all, _ := l.Runs("", 0); len(all) != 6 {
		t.Errorf("Runs(all) = %d runs", len(all))
	}
	// The four unfinished runs of a end as interrupted; b's and the
	// finished one are left as they are.
	end := base.Add(time.Hour)
	if n, err := l.CloseUnfinished("a", end); err != nil || n != 4 {
		t.Fatalf("CloseUnfinished = %d, %v, want 4", n, err)
	}
	all, _ := l.Runs("", 0)
	for _, r := range all {
		switch {
		case r.ID == ids[4]:
			if r.Outcome != "failed" || !r.FinishedAt.Equal(base.Add(5*time.Minute)) {
				t.Errorf("finished run changed: %+v", r)
			}
		case r.Job == "a":
			if r.Outcome != "interrupted" || r.Error != EndedUnrecorded || !r.FinishedAt.Equal(end) {
				t.Errorf("unfinished run of a = %+v, want interrupted at %v", r, end)
			}
		case r.Outcome != "" || !r.FinishedAt.IsZero():
			t.Errorf("b's run closed: %+v", r)
		}
	}
	if n, err := l.CloseUnfinished("a", end); err != nil || n != 0 {
		t.Errorf("CloseUnfinished again = %d, %v, want 0", n, err)
	}
}

func TestConcurrentUse(t *testing.T) { forEachBackend(t, testConcurrentUse) }

func testConcurrentUse(t *testing.T) {
	l, _ := openTemp(t)
	const workers, files = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*files)
	for w := range workers {
		wg.Go(func() {
			job := fmt.Sprintf("job-%d", w%2)
			run, err := l.StartRun(job, time.Time{})
			if err != nil {
				errs <- err
				return
			}
			for i := range files {
				f := newFile(fmt.Sprintf("w%d_%d.csv", w, i))
				f.Job = job
				id, err := l.AddFile(f)
				if err != nil {
					errs <- err
					return
				}
				// Two workers race to add the same identity: one wins.
				if _, err := l.AddFile(&File{Job: job, Partner: "p", Name: fmt.Sprintf("shared_%d", i),
					ModTime: mtime}); err != nil && !errors.Is(err, ErrExists) {
					errs <- err
				}
				steps := []func() error{
					func() error { return l.MarkStaged(id, hash(f.Name), f.Size) },
					func() error { return l.SetState(id, StateCleaned) },
					func() error { return l.SetCounts(id, 10, 1) },
					func() error { return l.AddSubjects(id, 0, []string{l.Pseudonym("c", fmt.Sprint(i))}) },
					func() error {
						d, err := l.StartDelivery(&Delivery{FileID: id, Partner: "cases", Name: f.Name})
						if err != nil {
							return err
						}
						return l.MarkDelivered(d, 1, "", time.Time{})
					},
					func() error { return l.SetState(id, StateDone) },
				}
				for _, step := range steps {
					if err := step(); err != nil {
						errs <- err
						return
					}
				}
				if _, err := l.Pending(job); err != nil {
					errs <- err
				}
				if _, err := l.PendingCount(); err != nil {
					errs <- err
				}
			}
			if err := l.FinishRun(run, "ok", files, "", time.Time{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var done int
	l.db.QueryRow(`SELECT count(*) FROM files WHERE state = 'done'`).Scan(&done)
	if done != workers*files {
		t.Errorf("%d files done, want %d", done, workers*files)
	}
	counts, _ := l.PendingCount()
	if counts["job-0"] != files || counts["job-1"] != files { // the shared_* rows, still staging
		t.Errorf("PendingCount = %v", counts)
	}
	for i := range files {
		if got, _ := l.Disclosures(l.Pseudonym("c", fmt.Sprint(i))); len(got) != workers {
			t.Errorf("subject %d: %d disclosures, want %d", i, len(got), workers)
		}
	}
	if runs, _ := l.Runs("", 0); len(runs) != workers {
		t.Errorf("%d runs", len(runs))
	}
}

// Two Ledgers on one file, as two processes would have: the busy timeout
// and BEGIN IMMEDIATE keep their writes apart.
func TestTwoHandles(t *testing.T) { forEachBackend(t, testTwoHandles) }

func testTwoHandles(t *testing.T) {
	path := newWhere(t)
	a, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// On PostgreSQL one process runs jobs on a ledger (ErrBusy): the
	// second writer is one beside it, as exchanged purge is.
	b, err := openAt(path)
	if isDSN(path) {
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("a second OpenPostgres: %v, want ErrBusy", err)
		}
		b, err = openCurrentAt(path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Pseudonym("c", "r") != b.Pseudonym("c", "r") {
		t.Error("two handles, two keys")
	}
	var wg sync.WaitGroup
	for _, l := range []*Ledger{a, b} {
		wg.Go(func() {
			for i := range 50 {
				id, err := l.AddFile(&File{Job: "j", Partner: "p", Name: fmt.Sprint(i), ModTime: mtime})
				if errors.Is(err, ErrExists) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := l.Fail(id, "x"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got, _ := a.Pending("j"); len(got) != 50 {
		t.Errorf("%d files, want 50", len(got))
	}
}

// TestDropSubjects: the subjects of a file's discarded outputs are deleted, every output's and
// only that file's, in one write; once one of its outputs with subjects is being delivered they
// are a record of a disclosure and nothing is deleted.
func TestDropSubjects(t *testing.T) { forEachBackend(t, testDropSubjects) }

func testDropSubjects(t *testing.T) {
	l, _ := openTemp(t)
	id := stage(t, l, newFile("claims_1.csv"))
	other := stage(t, l, newFile("claims_2.csv"))
	alice := l.Pseudonym("acme-energie", "K1001")
	bob := l.Pseudonym("acme-energie", "K1002")
	count := func(file int64) int {
		var n int
		l.db.QueryRow(`SELECT count(*) FROM subjects WHERE file_id = ?`, file).Scan(&n)
		return n
	}
	l.AddSubjects(id, 0, []string{alice, bob})
	l.AddSubjects(id, 1, []string{alice})
	l.AddSubjects(other, 0, []string{alice})
	if n, err := l.DropSubjects(id); err != nil || n != 3 {
		t.Fatalf("DropSubjects = %d, %v; want 3", n, err)
	}
	if count(id) != 0 || count(other) != 1 {
		t.Fatalf("left %d subjects of the file, %d of the other; want 0 and 1", count(id), count(other))
	}
	if n, err := l.DropSubjects(id); err != nil || n != 0 {
		t.Errorf("DropSubjects again = %d, %v; want 0", n, err)
	}
	if _, err := l.DropSubjects(4242); !errors.Is(err, ErrNotFound) {
		t.Errorf("DropSubjects of a missing file: %v", err)
	}

	// A reject report (index -1) carries no subjects: its delivery does not keep them.
	l.AddSubjects(id, 0, []string{alice})
	l.StartDelivery(&Delivery{FileID: id, Index: -1, Partner: "acme-energie", Dir: "/rejects", Name: "r.csv"})
	if n, err := l.DropSubjects(id); err != nil || n != 1 {
		t.Errorf("DropSubjects beside a reject report's delivery = %d, %v; want 1", n, err)
	}
	// An output being delivered: its subjects are disclosed, nothing of the file is dropped.
	l.AddSubjects(id, 0, []string{alice})
	l.AddSubjects(id, 1, []string{bob})
	l.StartDelivery(&Delivery{FileID: id, Index: 1, Partner: "gdw-jansen", Dir: "/in", Name: "b.csv"})
	if _, err := l.DropSubjects(id); !errors.Is(err, ErrState) {
		t.Errorf("DropSubjects of a file being delivered: %v, want ErrState", err)
	}
	if count(id) != 2 {
		t.Errorf("%d subjects left, want 2", count(id))
	}
	if got, _ := l.Disclosures(bob); len(got) != 1 {
		t.Errorf("Disclosures(bob) = %+v", got)
	}
}

// OpenCurrent opens a current ledger beside its owner, and refuses one
// that is missing or of another schema version, changing nothing.
// SQLite only: a missing file and PRAGMA user_version (TestPostgresVersion
// is PostgreSQL's).
func TestOpenCurrent(t *testing.T) { sqliteOnly(t, testOpenCurrent) }

func testOpenCurrent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ledger.db")
	if _, err := OpenCurrent(missing); err == nil {
		t.Fatal("OpenCurrent created a missing ledger")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenCurrent left %s: %v", missing, err)
	}

	l, path := openTemp(t) // the daemon holds it open
	f := stage(t, l, newFile("a.csv"))
	c, err := openCurrentAt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.File(f); err != nil {
		t.Errorf("OpenCurrent does not see the daemon's file: %v", err)
	}
	c.Close()

	ms, err := migrations(sqliteDialect{})
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(ms)-1)); err != nil {
		t.Fatal(err)
	}
	_, err = openCurrentAt(path)
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, this build's is %d", len(ms)-1, len(ms))) {
		t.Fatalf("OpenCurrent of an older schema: %v, want ErrSchema naming both versions", err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(ms)-1 {
		t.Fatalf("schema version %d after a refused OpenCurrent, want %d unmigrated (%v)", v, len(ms)-1, err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(ms)+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := openCurrentAt(path); !errors.Is(err, ErrSchema) {
		t.Fatalf("OpenCurrent of a newer schema: %v, want ErrSchema", err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM meta WHERE key = 'audit_genesis'`); err != nil {
		t.Fatal(err)
	}
	if _, err := openCurrentAt(path); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "audit chain is not started") {
		t.Fatalf("OpenCurrent without an audit chain: %v, want ErrSchema", err)
	}
}

// TestLastSuccess: the finish time of the newest "ok" run; failed and
// interrupted runs, and runs never finished, are not successes.
func TestLastSuccess(t *testing.T) { forEachBackend(t, testLastSuccess) }

func testLastSuccess(t *testing.T) {
	l, _ := openTemp(t)
	if _, ok, err := l.LastSuccess("j"); err != nil || ok {
		t.Fatalf("no runs: %v, %v", ok, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, outcome := range []string{"ok", "ok", "failed", "interrupted", ""} {
		id, err := l.StartRun("j", t0.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if outcome != "" {
			if err := l.FinishRun(id, outcome, 0, "", t0.Add(time.Duration(i)*time.Hour+time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	at, ok, err := l.LastSuccess("j")
	if err != nil || !ok || !at.Equal(t0.Add(time.Hour+time.Minute)) {
		t.Fatalf("LastSuccess = %v, %v, %v; want %v", at, ok, err, t0.Add(time.Hour+time.Minute))
	}
	if _, ok, _ := l.LastSuccess("other"); ok {
		t.Fatal("another job's success counted")
	}
}

// Rejects counts files, rows read, files rejected whole and the rows
// rejected from the others, over every job.
func TestRejects(t *testing.T) { forEachBackend(t, testRejects) }

func testRejects(t *testing.T) {
	l, _ := openTemp(t)
	if got, err := l.Rejects(); err != nil || got != (RejectTotals{}) {
		t.Fatalf("empty ledger: %+v, %v", got, err)
	}
	clean := stage(t, l, newFile("clean.csv"))
	some := stage(t, l, newFile("some.csv"))
	whole := stage(t, l, newFile("whole.csv"))
	other := newFile("other.csv")
	other.Job = "b"
	more := stage(t, l, other)
	addFile(t, l, newFile("seen.csv")) // listed only: no rows yet
	for id, c := range map[int64][2]int{clean: {10, 0}, some: {7, 2}, whole: {4, 1}, more: {5, 5}} {
		if err := l.SetCounts(id, c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetState(whole, StateRejected); err != nil {
		t.Fatal(err)
	}
	got, err := l.Rejects()
	if err != nil {
		t.Fatal(err)
	}
	want := RejectTotals{Files: 5, Rows: 26, WholeFiles: 1, RejectedRows: 7, RejectedFiles: 2}
	if got != want {
		t.Errorf("Rejects = %+v, want %+v", got, want)
	}
}

// PendingPage returns the first limit pending files of a job, the
// longest-seen first, and counts them all; a done or rejected file and
// another job's are not counted, and a cancelled context stops it.
func TestPendingPage(t *testing.T) { forEachBackend(t, testPendingPage) }

func testPendingPage(t *testing.T) {
	l, _ := openTemp(t)
	base := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var want []int64
	for i := range 130 {
		f := newFile(fmt.Sprintf("claims_%03d.csv", i))
		f.SeenAt = base.Add(time.Duration(130-i) * time.Minute) // the last added is the oldest
		want = append([]int64{addFile(t, l, f)}, want...)
	}
	done, rejected := want[0], want[1]
	l.MarkStaged(done, hash("d"), 1234)
	l.SetState(done, StateDone)
	l.SetState(rejected, StateRejected)
	want = want[2:]
	other := newFile("other.csv")
	other.Job = "b"
	addFile(t, l, other)

	got, total, err := l.PendingPage(context.Background(), "acme-claims-in", 100)
	if err != nil {
		t.Fatal(err)
	}
	if total != 128 || len(got) != 100 {
		t.Fatalf("PendingPage = %d file(s) of %d, want 100 of 128", len(got), total)
	}
	for i, f := range got {
		if f.ID != want[i] {
			t.Fatalf("file %d: id %d, want %d (longest-seen first)", i, f.ID, want[i])
		}
	}
	if got, total, _ := l.PendingPage(context.Background(), "b", 100); len(got) != 1 || total != 1 {
		t.Errorf("job b: %d of %d", len(got), total)
	}
	if got, total, _ := l.PendingPage(context.Background(), "acme-claims-in", 0); len(got) != 0 || total != 128 {
		t.Errorf("limit 0: %d of %d", len(got), total)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.PendingPage(ctx, "acme-claims-in", 100); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := l.RunsContext(ctx, "acme-claims-in", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("RunsContext cancelled: %v", err)
	}
}
