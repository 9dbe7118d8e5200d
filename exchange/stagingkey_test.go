package exchange

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/seal"
)

// A lost state_dir/staging.key is not replaced while staging holds a
// sealed file the ledger still needs: the start is refused, naming the
// key id and how many files need it, and no key is generated. A key
// that lacks that id is refused alike; one that holds it (second, after
// a new key) is taken. Once the file is given up, a new key is made.
func TestStagingKeyLostOrChanged(t *testing.T) {
	g, in, _ := localRig(t, config.Source{})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	os.WriteFile(filepath.Join(in, "outbox", "b.csv"), claims, 0o644)
	id := stagedFile(t, g, "j", "creditor", in, "a.csv")
	stagedFile(t, g, "j", "creditor", in, "b.csv")
	// An orphan sealed under another key (no ledger row) is swept, not
	// needed: it blocks nothing.
	other, _ := seal.GenerateFile()
	otherKey, _ := seal.ParseKey(other)
	orphan, _ := OpenStaging(g.runner.Staging().Dir(), otherKey)
	w, _ := orphan.Receive(999, "orphan.csv")
	w.Write(claims)
	w.Commit()

	oldID := g.runner.Staging().key.ID()
	keyPath := filepath.Join(g.cfg.StateDir, "staging.key")
	oldFile, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(want ...string) {
		t.Helper()
		_, err := NewRunner(g.cfg, g.ledger, g.runner.log)
		if err == nil {
			t.Fatal("runner started; want it refused")
		}
		for _, w := range append(want, oldID, "2 staged files", "exchanged files abandon") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		if strings.Contains(err.Error(), "Jansen") || strings.Contains(err.Error(), otherKey.ID()) {
			t.Errorf("error %q names file contents or an id no file needed", err)
		}
	}

	os.Remove(keyPath)
	refused("staging.key is missing", "no new key is generated")
	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Fatalf("a key was generated while sealed files wait: %v", err)
	}

	// Another key, configured: it lacks the id.
	g.cfg.Staging.Key = config.Secret{Ref: "env:TEST_KEY", Value: other}
	refused("lacks a key")

	// The new key first, the old one after it: taken, and the files are
	// delivered.
	g.cfg.Staging.Key = config.Secret{Ref: "env:TEST_KEY", Value: append(append([]byte{}, other...), oldFile...)}
	r, err := NewRunner(g.cfg, g.ledger, g.runner.log)
	if err != nil {
		t.Fatalf("a key holding the needed id: %v", err)
	}
	r.Sleep = g.runner.Sleep
	g.runner = r
	if _, err := os.Stat(filepath.Join(g.runner.Staging().Dir(), "999.src")); !os.IsNotExist(err) {
		t.Errorf("orphan not swept: %v", err)
	}

	// Back to a generated key, lost: once the files are given up, a new
	// one is made.
	g.cfg.Staging.Key = config.Secret{}
	refused("staging.key is missing")
	if _, err := g.ledger.Abandon(id, "ops", "key lost", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRunner(g.cfg, g.ledger, g.runner.log); err == nil || !strings.Contains(err.Error(), "1 staged file sealed under key id "+oldID) {
		t.Fatalf("one file still needs the key: %v", err)
	}
	files, _ := g.ledger.Pending("j")
	for _, f := range files {
		g.ledger.Abandon(f.ID, "ops", "key lost", nil)
	}
	if _, err := NewRunner(g.cfg, g.ledger, g.runner.log); err != nil {
		t.Fatalf("no file needs the lost key: %v", err)
	}
	if k, err := seal.Load(keyPath); err != nil || k.ID() == oldID {
		t.Fatalf("new key = %v, %v; want one generated", k, err)
	}
}

// KeyIDs reads the key id from each sealed file's header: plaintext, a
// .part, a header cut short and files not needed are not counted.
func TestStagingKeyIDs(t *testing.T) {
	k1, k2 := stagingKey(t), stagingKey(t)
	dir := filepath.Join(t.TempDir(), "staging")
	s1, _ := OpenStaging(dir, k1)
	s2, _ := OpenStaging(dir, k2)
	for _, c := range []struct {
		s    *Staging
		id   int64
		name string
	}{{s1, 1, "a.csv"}, {s1, 1, ".out-0-x.csv"}, {s2, 2, "b.csv"}, {s2, 3, "c.csv"}} {
		w, err := c.s.Create(c.id, c.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(claims)
		w.Commit()
	}
	os.WriteFile(filepath.Join(dir, "1", ".out-1-x.csv.part"), []byte(seal.Magic+"12345678"), 0o600)
	os.WriteFile(filepath.Join(dir, "4.src"), claims, 0o600)
	os.WriteFile(filepath.Join(dir, "5.src"), []byte(seal.Magic+"1234"), 0o600)
	got, err := s1.KeyIDs(func(id int64) (bool, error) { return id != 3, nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[k1.ID()] != 2 || got[k2.ID()] != 1 {
		t.Fatalf("KeyIDs = %v; want %s: 2, %s: 1", got, k1.ID(), k2.ID())
	}
	if !k1.Has(k1.ID()) || k1.Has(k2.ID()) {
		t.Fatal("Has")
	}
}
