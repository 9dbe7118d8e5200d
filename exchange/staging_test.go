package exchange

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/ledger"
)

// TestStagingLayout: a source copy is <id>.src, written in place; an
// output lives in <id>/ and stands under its name only once committed;
// modes are 0600 and 0700; Remove takes both; Sweep removes what it is
// told not to keep, and nothing else.
func TestStagingLayout(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	src, err := s.Receive(7, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	src.Write(claims)
	if n, sum7, err := src.Commit(); err != nil || n != int64(len(claims)) || sum7 != sum(claims) {
		t.Fatalf("commit = %d, %s, %v", n, sum7, err)
	}
	out, err := s.Create(7, ".out-0-jansen-bailiff.csv")
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("K-1\r\n"))
	if _, err := os.Stat(s.Path(7, ".out-0-jansen-bailiff.csv")); !os.IsNotExist(err) {
		t.Errorf("output stands under its name before Commit: %v", err)
	}
	if _, _, err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	other, _ := s.Receive(8, "other.csv")
	other.Commit()

	for p, mode := range map[string]os.FileMode{
		s.Dir():                                0o700,
		filepath.Join(s.Dir(), "7"):            0o700,
		filepath.Join(s.Dir(), "7.src"):        0o600,
		s.Path(7, ".out-0-jansen-bailiff.csv"): 0o600,
	} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %o", p, fi.Mode(), err, mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(s.Dir(), "7.src")); !bytes.HasPrefix(b, []byte(seal.Magic)) || bytes.Contains(b, claims[:20]) {
		t.Errorf("source copy at rest is not sealed: %.40q", b)
	}
	if f, err := s.Open(7, "claims.csv"); err != nil {
		t.Errorf("open source copy: %v", err)
	} else if b, err := io.ReadAll(f); err != nil || f.Size() != int64(len(claims)) || !bytes.Equal(b, claims) {
		t.Errorf("source copy read back = %q, %v (size %d)", b, err, f.Size())
	}
	ids, _ := s.IDs()
	slices.Sort(ids)
	if !slices.Equal(ids, []int64{7, 8}) {
		t.Errorf("IDs = %v, want [7 8]", ids)
	}

	if err := s.Remove(7, "claims.csv"); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.IDs(); !slices.Equal(ids, []int64{8}) {
		t.Errorf("after Remove(7): IDs = %v, want [8]", ids)
	}
	if err := s.Remove(7, "claims.csv"); err != nil {
		t.Errorf("Remove again: %v", err)
	}

	x, _ := s.Create(9, ".rejects.csv")
	x.Commit()
	removed, err := s.Sweep(func(id int64) (bool, error) { return id == 8, nil })
	if err != nil || !slices.Equal(removed, []int64{9}) {
		t.Errorf("Sweep = %v, %v; want [9] removed", removed, err)
	}
	ents, _ := os.ReadDir(s.Dir())
	if len(ents) != 1 || ents[0].Name() != "8.src" {
		t.Errorf("staging after Sweep = %v, want only 8.src", ents)
	}
}

// TestUpgradeAdoptsStagedCopies: files staged by the versions that kept a
// source copy as staging/ID/NAME, and later as staging/ID-NAME, are found
// after an upgrade (which keeps it as staging/ID.src), delivered, and
// their staging emptied; a copy under the current name is kept over an
// old one beside it.
func TestUpgradeAdoptsStagedCopies(t *testing.T) {
	g, _, out := localRig(t, config.Source{}) // the sources were deleted before the upgrade
	dir := g.runner.Staging().Dir()
	stage := func(name string, at func(id string) string, body []byte) int64 {
		t.Helper()
		f := &ledger.File{Job: "j", Partner: "creditor", Dir: "/outbox", Name: name, Size: int64(len(body)), ModTime: g.runner.Now()}
		id, err := g.ledger.AddFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, at(strconv.FormatInt(id, 10)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := g.ledger.MarkStaged(id, sum(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		return id
	}
	other := append([]byte("other\n"), claims...)
	ids := []int64{
		stage("a.csv", func(id string) string { return filepath.Join(id, "a.csv") }, claims),
		stage("b.csv", func(id string) string { return id + "-b.csv" }, other),
		// Both names: the current one counts, the old one is removed.
		stage("c.csv", func(id string) string { return id + ".src" }, claims),
	}
	os.WriteFile(filepath.Join(dir, strconv.FormatInt(ids[2], 10)+"-c.csv"), []byte("stale"), 0o600)

	// The upgraded binary starts: a new runner over the same state dir.
	r, err := NewRunner(g.cfg, g.ledger, g.runner.log)
	if err != nil {
		t.Fatal(err)
	}
	g.runner = r
	// Staged in plaintext before sealing: sealed in place at start.
	for _, id := range ids {
		if b, _ := os.ReadFile(filepath.Join(dir, strconv.FormatInt(id, 10)+".src")); !bytes.HasPrefix(b, []byte(seal.Magic)) || bytes.Contains(b, claims[:20]) {
			t.Fatalf("file %d: the copy staged in plaintext is not sealed at start", id)
		}
	}
	if ev := g.logs.FilterMessage("staging sealed").All(); len(ev) != 3 {
		t.Errorf("staging sealed events = %v, want 3", ev)
	}
	if res, err := g.run("j"); err != nil || res.Delivered != 3 {
		t.Fatalf("run = %+v, %v; want the staged files delivered", res, err)
	}
	for name, want := range map[string][]byte{"a.csv": claims, "b.csv": other, "c.csv": claims} {
		if b, _ := os.ReadFile(filepath.Join(out, "inbox", name)); !bytes.Equal(b, want) {
			t.Errorf("%s: delivered %q", name, b)
		}
	}
	for _, id := range ids {
		if got, _ := g.ledger.File(id); got.State != ledger.StateDone {
			t.Fatalf("file %d: state = %s, want done", id, got.State)
		}
	}
	g.stagingEmpty()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("staging holds %v", ents)
	}
}

func TestSweepStagingRemovesOrphans(t *testing.T) {
	g, _, _ := localRig(t, config.Source{})
	st, _ := g.runner.Staging().Create(4242, "orphan.csv")
	st.Write(claims)
	st.Commit()
	if err := g.runner.sweepStaging(); err != nil {
		t.Fatal(err)
	}
	g.stagingEmpty()
}

// Held lists what Remove removes: the source copy (where this version
// and an earlier one keep it) and what <id>/ holds.
func TestStagingHeld(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Held(7, "claims.csv"); len(got) != 0 {
		t.Fatalf("Held of nothing = %v", got)
	}
	for _, n := range []string{"claims.csv", ".out-0-cases.csv"} {
		st, err := s.Create(7, n)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(claims)
		if _, _, err := st.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "7-claims.csv"), claims, 0o600); err != nil {
		t.Fatal(err)
	}
	got := s.Held(7, "claims.csv")
	want := []string{"7.src", "7-claims.csv", filepath.Join("7", ".out-0-cases.csv")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Held = %v, want %v", got, want)
	}
	// Without the key (exchanged files): the same names, no reading or
	// writing, and removal works.
	s = StagingAt(s.Dir())
	if got := s.Held(7, "claims.csv"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Held without the key = %v, want %v", got, want)
	}
	if _, err := s.Open(7, "claims.csv"); !errors.Is(err, errNoKey) {
		t.Errorf("Open without the key = %v, want errNoKey", err)
	}
	if _, err := s.Create(8, "x.csv"); !errors.Is(err, errNoKey) {
		t.Errorf("Create without the key = %v, want errNoKey", err)
	}
	if err := s.Remove(7, "claims.csv"); err != nil {
		t.Fatal(err)
	}
	if got := s.Held(7, "claims.csv"); len(got) != 0 {
		t.Errorf("Held after Remove = %v", got)
	}
}

// A copy an earlier version left under its old name beside this
// version's <id>.src is unused plaintext: Adopt removes it and keeps the
// current copy.
func TestAdoptRemovesStaleLegacyCopy(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Create(7, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	st.Write(claims)
	if _, _, err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(s.Dir(), "7"), 0o700)
	for _, old := range []string{"7-claims.csv", filepath.Join("7", "claims.csv")} {
		if err := os.WriteFile(filepath.Join(s.Dir(), old), claims, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if adopted, err := s.Adopt(7, "claims.csv"); err != nil || adopted {
		t.Fatalf("Adopt = %v, %v; want nothing adopted", adopted, err)
	}
	if got := s.Held(7, "claims.csv"); len(got) != 1 || got[0] != "7.src" {
		t.Errorf("Held after Adopt = %v, want only 7.src", got)
	}
	sf, err := s.Open(7, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	sf.Close()
}
