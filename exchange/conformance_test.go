package exchange

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// fixture is one endpoint under test, and where its paths live on disk.
type fixture struct {
	ep   Endpoint
	base string                // a directory of the endpoint's namespace, empty at start
	disk func(p string) string // endpoint path -> OS path, for setup and checks

	// lstatFollows marks a server whose LSTAT and OPEN follow a symlink
	// (ProFTPD resolves every path first); its listing still shows it.
	// The symlink checks of Stat and Open are skipped for it.
	lstatFollows bool
}

func (fx fixture) write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(fx.disk(p), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (fx fixture) read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(fx.disk(p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fx fixture) exists(p string) bool {
	_, err := os.Lstat(fx.disk(p))
	return err == nil
}

// testConformance is the Endpoint contract, run against every endpoint.
func testConformance(t *testing.T, mk func(t *testing.T) fixture) {
	ctx := context.Background()
	t.Run("List", func(t *testing.T) {
		fx := mk(t)
		fx.write(t, join(fx.base, "a.csv"), []byte("12345"))
		fx.write(t, join(fx.base, "b.csv"), nil)
		if err := os.Mkdir(fx.disk(join(fx.base, "sub")), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("a.csv", fx.disk(join(fx.base, "link.csv"))); err != nil {
			t.Fatal(err)
		}
		ents, err := fx.ep.List(ctx, fx.base)
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
		if !equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
		if _, err := fx.ep.List(ctx, join(fx.base, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List(missing) = %v, want ErrNotExist", err)
		}
	})
	t.Run("Stat", func(t *testing.T) {
		fx := mk(t)
		p := join(fx.base, "a.csv")
		fx.write(t, p, []byte("hello"))
		mtime := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
		if err := os.Chtimes(fx.disk(p), mtime, mtime); err != nil {
			t.Fatal(err)
		}
		fi, err := fx.ep.Stat(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Name != "a.csv" || fi.Size != 5 || !fi.IsRegular() || !fi.ModTime.Equal(mtime) {
			t.Fatalf("Stat = %+v", fi)
		}
		if _, err := fx.ep.Stat(ctx, join(fx.base, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat(missing) = %v, want ErrNotExist", err)
		}
		if err := os.Symlink("a.csv", fx.disk(join(fx.base, "l"))); err != nil {
			t.Fatal(err)
		}
		fi, err = fx.ep.Stat(ctx, join(fx.base, "l"))
		if fx.lstatFollows {
			t.Logf("Stat(symlink) = %+v, %v: this server follows it", fi, err)
		} else if err != nil || fi.Mode&fs.ModeSymlink == 0 {
			t.Fatalf("Stat(symlink) = %+v, %v; want a symlink, not followed", fi, err)
		}
	})
	t.Run("OpenListed", func(t *testing.T) {
		fx := mk(t)
		lo := fx.ep
		fx.write(t, join(fx.base, "a.csv"), []byte("12345"))
		// A file that looks like a.csv as listed: same size, same mtime.
		fx.write(t, join(fx.base, "other.csv"), []byte("SECRT"))
		mtime := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
		for _, n := range []string{"a.csv", "other.csv"} {
			if err := os.Chtimes(fx.disk(join(fx.base, n)), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("other.csv", fx.disk(join(fx.base, "link.csv"))); err != nil {
			t.Fatal(err)
		}
		ents, err := fx.ep.List(ctx, fx.base)
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]FileInfo{}
		for _, e := range ents {
			listed[e.Name] = e
		}
		r, err := lo.OpenListed(ctx, join(fx.base, "a.csv"), listed["a.csv"])
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != "12345" {
			t.Fatalf("read %q, %v", got, err)
		}
		r.Close()
		// a.csv grew since it was listed: not the file listed.
		fx.write(t, join(fx.base, "a.csv"), []byte("123456"))
		if _, err := lo.OpenListed(ctx, join(fx.base, "a.csv"), listed["a.csv"]); !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("OpenListed of a file changed since = %v, want ErrSizeMismatch", err)
		}
		// A symlink is refused as listed; one swapped in for a listed
		// regular file is refused although its target has the listed
		// size and mtime: it is not followed.
		if _, err := lo.OpenListed(ctx, join(fx.base, "link.csv"), listed["link.csv"]); !errors.Is(err, ErrNotRegular) {
			t.Errorf("OpenListed of a listed symlink = %v, want ErrNotRegular", err)
		}
		if err := os.Rename(fx.disk(join(fx.base, "link.csv")), fx.disk(join(fx.base, "a.csv"))); err != nil {
			t.Fatal(err)
		}
		if fx.lstatFollows {
			t.Log("OpenListed of a symlink swapped in: not checked, this server follows it")
		} else if r, err := lo.OpenListed(ctx, join(fx.base, "a.csv"), listed["a.csv"]); !errors.Is(err, ErrNotRegular) {
			var got []byte
			if err == nil {
				got, _ = io.ReadAll(r)
				r.Close()
			}
			t.Errorf("OpenListed of a symlink swapped in for the listed file = %v (read %q), want ErrNotRegular", err, got)
		}
		if _, err := lo.OpenListed(ctx, join(fx.base, "gone.csv"), listed["a.csv"]); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenListed of a missing file = %v, want ErrNotExist", err)
		}
	})
	t.Run("Open", func(t *testing.T) {
		fx := mk(t)
		data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: several packets
		fx.write(t, join(fx.base, "big.csv"), data)
		r, err := fx.ep.Open(ctx, join(fx.base, "big.csv"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Open read %d bytes, err %v; want %d identical bytes", len(got), err, len(data))
		}
		if err := os.Symlink("big.csv", fx.disk(join(fx.base, "l.csv"))); err != nil {
			t.Fatal(err)
		}
		if fx.lstatFollows {
			t.Log("Open(symlink): not checked, this server follows it")
		} else if _, err := fx.ep.Open(ctx, join(fx.base, "l.csv")); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("Open(symlink) = %v, want ErrNotRegular", err)
		}
		if _, err := fx.ep.Open(ctx, join(fx.base, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(missing) = %v, want ErrNotExist", err)
		}
	})
	t.Run("CreateTempCommit", func(t *testing.T) {
		fx := mk(t)
		tmp, final := join(fx.base, ".x.csv.part"), join(fx.base, "x.csv")
		w, err := fx.ep.Create(ctx, tmp)
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
		if _, err := fx.ep.Create(ctx, tmp); !errors.Is(err, ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists (O_EXCL)", err)
		}
		if err := fx.ep.Rename(ctx, tmp, final); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fx.read(t, final), data) || fx.exists(tmp) {
			t.Fatal("after rename: final differs or temp still there")
		}
	})
	t.Run("RenameNeverOverwrites", func(t *testing.T) {
		fx := mk(t)
		a, b := join(fx.base, "a"), join(fx.base, "b")
		fx.write(t, a, []byte("new"))
		fx.write(t, b, []byte("partner's unread file"))
		if err := fx.ep.Rename(ctx, a, b); !errors.Is(err, ErrExists) {
			t.Fatalf("Rename over existing = %v, want ErrExists", err)
		}
		if string(fx.read(t, b)) != "partner's unread file" || string(fx.read(t, a)) != "new" {
			t.Fatal("Rename changed a file it refused to replace")
		}
		if err := fx.ep.Rename(ctx, join(fx.base, "gone"), join(fx.base, "c")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Rename(missing) = %v, want ErrNotExist", err)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		fx := mk(t)
		p := join(fx.base, "a")
		fx.write(t, p, []byte("x"))
		if err := fx.ep.Remove(ctx, p); err != nil {
			t.Fatal(err)
		}
		if fx.exists(p) {
			t.Fatal("file still there after Remove")
		}
		if err := fx.ep.Remove(ctx, p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Remove(missing) = %v, want ErrNotExist", err)
		}
	})
	t.Run("CloseAndReuse", func(t *testing.T) {
		fx := mk(t)
		fx.write(t, join(fx.base, "a"), []byte("x"))
		if err := fx.ep.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.ep.Stat(ctx, join(fx.base, "a")); err != nil {
			t.Fatalf("Stat after Close: %v (an endpoint reconnects)", err)
		}
	})
}

func TestLocalConformance(t *testing.T) {
	testConformance(t, func(t *testing.T) fixture {
		root := t.TempDir()
		ep := NewLocal(root)
		t.Cleanup(func() { ep.Close() })
		return fixture{ep: ep, base: "/", disk: func(p string) string { return filepath.Join(root, p) }}
	})
}

func TestLocalConfinedToRoot(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600)
	root := t.TempDir()
	os.Symlink(outside, filepath.Join(root, "escape"))
	ep := NewLocal(root)
	defer ep.Close()
	ctx := context.Background()
	if _, err := ep.Open(ctx, "/escape/secret"); err == nil {
		t.Fatal("opened a file outside the root through a symlink")
	}
	if _, err := ep.Stat(ctx, "/../"+filepath.Base(outside)+"/secret"); err == nil {
		t.Fatal("reached outside the root with ..")
	}
}

func TestCheckName(t *testing.T) {
	ok := []string{"claims_2026-11-20.csv", "a", "Betalingen 1.234.csv", "é.csv", "x.y.z"}
	bad := []string{"", ".", "..", "../etc", "a/b", `a\b`, "a..b", "x\nb", "x\x00", "x\x7f", "tab\tname", "\xff.csv", string(make([]byte, 256))}
	for _, n := range ok {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckName(n); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", n, err)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
