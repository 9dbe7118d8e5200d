package exchange

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestStagingLayout: a source copy is <id>.src, written in place; an
// output lives in <id>/ and stands under its name only once committed;
// modes are 0600 and 0700; Remove takes both; Sweep removes what it is
// told not to keep, and nothing else.
func TestStagingLayout(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"))
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
	if b, _ := os.ReadFile(filepath.Join(s.Dir(), "7.src")); string(b) != string(claims) {
		t.Errorf("source copy = %q", b)
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
