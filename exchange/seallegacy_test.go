package exchange

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// transformedLegacy runs the drop rig's job until its file is transformed
// (its delivery fails), then replaces every staged file of it with its
// plaintext, as a version before sealing left it, if legacy says so of
// its name. It returns the file and the plaintext of each file replaced,
// by path.
func transformedLegacy(t *testing.T, legacy func(name string) bool) (*rig, *inproc, ledger.File, map[string][]byte) {
	t.Helper()
	g, _, srv := dropRig(t, sftpd.Options{}, config.Destination{})
	g.runner.Retry.Attempts = 1
	g.wrap("gdw", func(ep endpoint.Endpoint) endpoint.Endpoint { return failCreate{ep} })
	g.run("claims-in")
	g.runner.wrapEndpoint = nil
	fs := g.files("claims-in")
	if len(fs) != 1 || fs[0].State != ledger.StateTransformed {
		t.Fatalf("files = %+v, want one transformed", fs)
	}
	f := fs[0]
	st := g.runner.Staging()
	plain := map[string][]byte{}
	ids := strconv.FormatInt(f.ID, 10)
	names := []string{f.Name}
	ents, err := os.ReadDir(filepath.Join(st.Dir(), ids))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, name := range names {
		if !legacy(name) {
			continue
		}
		sf, err := st.Open(f.ID, name)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		b, err := io.ReadAll(sf)
		sf.Close()
		if err != nil || len(b) == 0 {
			t.Fatalf("read %s: %d bytes, %v", name, len(b), err)
		}
		p := st.Path(f.ID, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		plain[p] = b
	}
	if len(names) < 2 {
		t.Fatalf("staged = %v, want the source copy and an output", names)
	}
	return g, srv, f, plain
}

// recordSyncs records the directories syncDir syncs until the test ends,
// each with what after(dir) says at the time.
func recordSyncs(t *testing.T, after func(dir string) string) func() []string {
	var mu sync.Mutex
	var dirs []string
	orig := syncDir
	syncDir = func(dir string) error {
		mu.Lock()
		dirs = append(dirs, dir+after(dir))
		mu.Unlock()
		return orig(dir)
	}
	t.Cleanup(func() { syncDir = orig })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dirs)
	}
}

// A file transformed by a version before sealing, its source copy and
// outputs in plaintext: at start each is sealed in place, and the run
// delivers the very bytes of the output.
func TestSealLegacyOutputs(t *testing.T) {
	g, srv, _, plain := transformedLegacy(t, func(string) bool { return true })
	r, err := NewRunner(g.cfg, g.ledger, g.runner.log)
	if err != nil {
		t.Fatal(err)
	}
	r.Sleep = g.runner.Sleep
	g.runner = r
	var output []byte
	for p, b := range plain {
		at, _ := os.ReadFile(p)
		if !bytes.HasPrefix(at, []byte(seal.Magic)) || bytes.Contains(at, b[:min(len(b), 40)]) {
			t.Errorf("%s: not sealed at start", filepath.Base(p))
		}
		if strings.HasPrefix(filepath.Base(p), ".out-") {
			output = b
		}
	}
	if len(plain) < 2 || output == nil {
		t.Fatalf("replaced %d staged files by their plaintext, want the source copy and an output", len(plain))
	}
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v; want the sealed output delivered", res, err)
	}
	ents, _ := os.ReadDir(filepath.Join(srv.root, "in"))
	if len(ents) != 1 {
		t.Fatalf("delivered = %v, want one file", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(srv.root, "in", ents[0].Name())); !bytes.Equal(b, output) {
		t.Errorf("delivered %d bytes, not the %d bytes of the output staged in plaintext", len(b), len(output))
	}
}

// A source copy sealed in place is written in <id>/ and renamed to
// <id>.src: both directories are synced after the rename, so that a
// power loss cannot bring back the name in <id>/ nor lose <id>.src.
func TestSealLegacySyncsBothDirs(t *testing.T) {
	g, _, f, plain := transformedLegacy(t, func(name string) bool { return !strings.HasPrefix(name, ".") })
	stDir := g.runner.Staging().Dir()
	idDir := filepath.Join(stDir, strconv.FormatInt(f.ID, 10))
	srcCopy := g.runner.Staging().Path(f.ID, f.Name)
	if len(plain) != 1 || plain[srcCopy] == nil {
		t.Fatalf("replaced %d staged files, want the source copy", len(plain))
	}
	synced := recordSyncs(t, func(dir string) string {
		if b, _ := os.ReadFile(srcCopy); bytes.HasPrefix(b, []byte(seal.Magic)) {
			return " (after the rename)"
		}
		return ""
	})
	if _, err := NewRunner(g.cfg, g.ledger, g.runner.log); err != nil {
		t.Fatal(err)
	}
	dirs := synced()
	for _, want := range []string{stDir + " (after the rename)", idDir + " (after the rename)"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("directories synced = %v; want %s", dirs, want)
		}
	}
}

// Unfinished files an earlier version left in plaintext are removed at
// start: an output's .part (no run reads one: it is written again), and
// the copy of a file still in state staging (forgotten and staged again
// by the next run). What may be a file this version is writing (empty,
// or beginning with the sealed header or a piece of it) stays.
func TestSealLegacyRemovesUnfinishedPlaintext(t *testing.T) {
	g, _, f, _ := transformedLegacy(t, func(string) bool { return false })
	st := g.runner.Staging()
	plainPart := st.Path(f.ID, ".out-0-gdw-bailiff.csv.part")
	sealing := st.Path(f.ID, ".out-1-gdw-bailiff.csv.part")
	empty := st.Path(f.ID, ".rejects.csv.part")
	os.WriteFile(plainPart, claims, 0o600)
	os.WriteFile(sealing, []byte(seal.Magic[:9]), 0o600)
	os.WriteFile(empty, nil, 0o600)
	// A file whose copy was under way when an earlier version stopped.
	under := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "b.csv", Size: int64(len(claims)), ModTime: g.runner.Now()}
	underID, err := g.ledger.AddFile(under)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(st.Path(underID, "b.csv"), claims[:50], 0o600)
	writing := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "c.csv", Size: int64(len(claims)), ModTime: g.runner.Now()}
	writingID, err := g.ledger.AddFile(writing)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(st.Path(writingID, "c.csv"), []byte(seal.Magic), 0o600)

	r, err := NewRunner(g.cfg, g.ledger, g.runner.log)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{plainPart: false, st.Path(underID, "b.csv"): false,
		sealing: true, empty: true, st.Path(writingID, "c.csv"): true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: present = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	var removed int64
	for _, e := range g.logs.FilterMessage("staging plaintext removed").All() {
		if e.ContextMap()["outcome"] == "unfinished plaintext removed" {
			removed += e.ContextMap()["files"].(int64)
		}
	}
	if removed != 2 {
		t.Errorf("logged %d unfinished plaintext files removed, want 2", removed)
	}
	walkPlain(t, r.Staging().Dir(), claims[:30])
}

// walkPlain fails the test if a file under dir holds plain.
func walkPlain(t *testing.T, dir string, plain []byte) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, plain) {
				t.Errorf("%s holds plaintext", p)
			}
		}
		return nil
	})
}
