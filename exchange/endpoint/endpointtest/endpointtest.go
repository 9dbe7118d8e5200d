// Package endpointtest is the conformance suite of the Endpoint contract:
// every implementation's tests call Run with a factory of fresh fixtures,
// so that one suite holds them all to the same behaviour.
package endpointtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/exchanged/exchanged/exchange/endpoint"
)

// Fixture is one endpoint under test, and where its paths live on disk.
type Fixture struct {
	EP   endpoint.Endpoint
	Base string                // a directory of the endpoint's namespace, empty at start
	Disk func(p string) string // endpoint path -> OS path, for setup and checks
}

func (fx Fixture) write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(fx.Disk(p), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (fx Fixture) read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(fx.Disk(p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fx Fixture) exists(p string) bool {
	_, err := os.Lstat(fx.Disk(p))
	return err == nil
}

// Run runs the Endpoint contract as subtests, each against a fresh
// Fixture from mk. The fixture's endpoint must be able to follow and make
// symlinks and hard links through Disk.
func Run(t *testing.T, mk func(t *testing.T) Fixture) {
	t.Run("List", func(t *testing.T) { testList(t, mk(t)) })
	t.Run("Stat", func(t *testing.T) { testStat(t, mk(t)) })
	t.Run("OpenListed", func(t *testing.T) { testOpenListed(t, mk(t)) })
	t.Run("Open", func(t *testing.T) { testOpen(t, mk(t)) })
	t.Run("CreateTempCommit", func(t *testing.T) { testCreateTempCommit(t, mk(t)) })
	t.Run("RenameNeverOverwrites", func(t *testing.T) { testRenameNeverOverwrites(t, mk(t)) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, mk(t)) })
	t.Run("CloseAndReuse", func(t *testing.T) { testCloseAndReuse(t, mk(t)) })
}

func testList(t *testing.T, fx Fixture) {
	ctx := context.Background()
	fx.write(t, join(fx.Base, "a.csv"), []byte("12345"))
	fx.write(t, join(fx.Base, "b.csv"), nil)
	if err := os.Mkdir(fx.Disk(join(fx.Base, "sub")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.csv", fx.Disk(join(fx.Base, "link.csv"))); err != nil {
		t.Fatal(err)
	}
	ents, err := fx.EP.List(ctx, fx.Base)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	var got []string
	for _, e := range ents {
		kind := "file"
		switch {
		case e.Mode&fs.ModeSymlink != 0:
			kind = "symlink"
		case e.Mode.IsDir():
			kind = "dir"
		}
		if kind == "file" {
			got = append(got, e.Name+":"+kind+":"+itoa(e.Size))
		} else {
			got = append(got, e.Name+":"+kind)
		}
	}
	want := []string{"a.csv:file:5", "b.csv:file:0", "link.csv:symlink", "sub:dir"}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if _, err := fx.EP.List(ctx, join(fx.Base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("List(missing) = %v, want ErrNotExist", err)
	}
}

func testStat(t *testing.T, fx Fixture) {
	ctx := context.Background()
	p := join(fx.Base, "a.csv")
	fx.write(t, p, []byte("hello"))
	mtime := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	if err := os.Chtimes(fx.Disk(p), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := fx.EP.Stat(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name != "a.csv" || fi.Size != 5 || !fi.IsRegular() || !fi.ModTime.Equal(mtime) {
		t.Fatalf("Stat = %+v", fi)
	}
	if _, err := fx.EP.Stat(ctx, join(fx.Base, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(missing) = %v, want ErrNotExist", err)
	}
	if err := os.Symlink("a.csv", fx.Disk(join(fx.Base, "l"))); err != nil {
		t.Fatal(err)
	}
	fi, err = fx.EP.Stat(ctx, join(fx.Base, "l"))
	if err != nil || fi.Mode&fs.ModeSymlink == 0 {
		t.Fatalf("Stat(symlink) = %+v, %v; want a symlink, not followed", fi, err)
	}
}

func testOpenListed(t *testing.T, fx Fixture) {
	ctx := context.Background()
	lo := fx.EP
	fx.write(t, join(fx.Base, "a.csv"), []byte("12345"))
	// A file that looks like a.csv as listed: same size, same mtime.
	fx.write(t, join(fx.Base, "other.csv"), []byte("SECRT"))
	mtime := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	for _, n := range []string{"a.csv", "other.csv"} {
		if err := os.Chtimes(fx.Disk(join(fx.Base, n)), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("other.csv", fx.Disk(join(fx.Base, "link.csv"))); err != nil {
		t.Fatal(err)
	}
	ents, err := fx.EP.List(ctx, fx.Base)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]endpoint.FileInfo{}
	for _, e := range ents {
		listed[e.Name] = e
	}
	r, err := lo.OpenListed(ctx, join(fx.Base, "a.csv"), listed["a.csv"])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "12345" {
		t.Fatalf("read %q, %v", got, err)
	}
	r.Close()
	// a.csv grew since it was listed: not the file listed.
	fx.write(t, join(fx.Base, "a.csv"), []byte("123456"))
	if _, err := lo.OpenListed(ctx, join(fx.Base, "a.csv"), listed["a.csv"]); !errors.Is(err, endpoint.ErrSizeMismatch) {
		t.Errorf("OpenListed of a file changed since = %v, want endpoint.ErrSizeMismatch", err)
	}
	// A symlink is refused as listed; one swapped in for a listed
	// regular file is refused although its target has the listed
	// size and mtime: it is not followed.
	if _, err := lo.OpenListed(ctx, join(fx.Base, "link.csv"), listed["link.csv"]); !errors.Is(err, endpoint.ErrNotRegular) {
		t.Errorf("OpenListed of a listed symlink = %v, want endpoint.ErrNotRegular", err)
	}
	if err := os.Rename(fx.Disk(join(fx.Base, "link.csv")), fx.Disk(join(fx.Base, "a.csv"))); err != nil {
		t.Fatal(err)
	}
	if r, err := lo.OpenListed(ctx, join(fx.Base, "a.csv"), listed["a.csv"]); !errors.Is(err, endpoint.ErrNotRegular) {
		var got []byte
		if err == nil {
			got, _ = io.ReadAll(r)
			r.Close()
		}
		t.Errorf("OpenListed of a symlink swapped in for the listed file = %v (read %q), want endpoint.ErrNotRegular", err, got)
	}
	if _, err := lo.OpenListed(ctx, join(fx.Base, "gone.csv"), listed["a.csv"]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenListed of a missing file = %v, want ErrNotExist", err)
	}
}

func testOpen(t *testing.T, fx Fixture) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: several packets
	fx.write(t, join(fx.Base, "big.csv"), data)
	r, err := fx.EP.Open(ctx, join(fx.Base, "big.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open read %d bytes, err %v; want %d identical bytes", len(got), err, len(data))
	}
	if err := os.Symlink("big.csv", fx.Disk(join(fx.Base, "l.csv"))); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.EP.Open(ctx, join(fx.Base, "l.csv")); !errors.Is(err, endpoint.ErrNotRegular) {
		t.Fatalf("Open(symlink) = %v, want endpoint.ErrNotRegular", err)
	}
	if _, err := fx.EP.Open(ctx, join(fx.Base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want ErrNotExist", err)
	}
}

func testCreateTempCommit(t *testing.T, fx Fixture) {
	ctx := context.Background()
	tmp, final := join(fx.Base, ".x.csv.part"), join(fx.Base, "x.csv")
	w, err := fx.EP.Create(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("row;1.234,56\r\n"), 50000)
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fx.exists(final) {
		t.Fatal("final name exists before the rename")
	}
	if _, err := fx.EP.Create(ctx, tmp); !errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("second Create = %v, want endpoint.ErrExists (O_EXCL)", err)
	}
	if err := fx.EP.Rename(ctx, tmp, final); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fx.read(t, final), data) || fx.exists(tmp) {
		t.Fatal("after rename: final differs or temp still there")
	}
}

func testRenameNeverOverwrites(t *testing.T, fx Fixture) {
	ctx := context.Background()
	a, b := join(fx.Base, "a"), join(fx.Base, "b")
	fx.write(t, a, []byte("new"))
	fx.write(t, b, []byte("partner's unread file"))
	if err := fx.EP.Rename(ctx, a, b); !errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("Rename over existing = %v, want endpoint.ErrExists", err)
	}
	if string(fx.read(t, b)) != "partner's unread file" || string(fx.read(t, a)) != "new" {
		t.Fatal("Rename changed a file it refused to replace")
	}
	if err := fx.EP.Rename(ctx, join(fx.Base, "gone"), join(fx.Base, "c")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Rename(missing) = %v, want ErrNotExist", err)
	}
}

func testRemove(t *testing.T, fx Fixture) {
	ctx := context.Background()
	p := join(fx.Base, "a")
	fx.write(t, p, []byte("x"))
	if err := fx.EP.Remove(ctx, p); err != nil {
		t.Fatal(err)
	}
	if fx.exists(p) {
		t.Fatal("file still there after Remove")
	}
	if err := fx.EP.Remove(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove(missing) = %v, want ErrNotExist", err)
	}
}

func testCloseAndReuse(t *testing.T, fx Fixture) {
	ctx := context.Background()
	fx.write(t, join(fx.Base, "a"), []byte("x"))
	if err := fx.EP.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.EP.Stat(ctx, join(fx.Base, "a")); err != nil {
		t.Fatalf("Stat after Close: %v (an endpoint reconnects)", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func join(dir, name string) string { return path.Join(dir, name) }
