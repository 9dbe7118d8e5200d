package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/endpointtest"
)

func TestLocalConformance(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		root := t.TempDir()
		ep := New(root)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: "/", Disk: func(p string) string { return filepath.Join(root, p) }}
	})
}

func TestLocalConfinedToRoot(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600)
	root := t.TempDir()
	os.Symlink(outside, filepath.Join(root, "escape"))
	ep := New(root)
	defer ep.Close()
	ctx := context.Background()
	if _, err := ep.Open(ctx, "/escape/secret"); err == nil {
		t.Fatal("opened a file outside the root through a symlink")
	}
	if _, err := ep.Stat(ctx, "/../"+filepath.Base(outside)+"/secret"); err == nil {
		t.Fatal("reached outside the root with ..")
	}
}

// A crash between link and unlink in a local rename: both names are the
// same file; the rename must complete, not be refused forever.
func TestLocalRenameAfterCrashBetweenLinkAndUnlink(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, ".a.part"), []byte("x"), 0o600)
	os.Link(filepath.Join(root, ".a.part"), filepath.Join(root, "a"))
	ep := New(root)
	defer ep.Close()
	if err := ep.Rename(t.Context(), "/.a.part", "/a"); err != nil {
		t.Fatalf("Rename = %v, want it completed", err)
	}
	if _, err := os.Stat(filepath.Join(root, ".a.part")); !os.IsNotExist(err) {
		t.Fatal("temp name left")
	}
	os.WriteFile(filepath.Join(root, "b"), []byte("other"), 0o600)
	os.WriteFile(filepath.Join(root, ".b.part"), []byte("ours"), 0o600)
	if err := ep.Rename(t.Context(), "/.b.part", "/b"); !errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("Rename over a different file = %v, want endpoint.ErrExists", err)
	}
}

// writerTo is a reader with WriteTo, which counts its calls.
type writerTo struct {
	*bytes.Reader
	calls int
}

func (w *writerTo) WriteTo(dst io.Writer) (int64, error) {
	w.calls++
	return w.Reader.WriteTo(dst)
}

// TestLocalReadFrom: a created file's ReadFrom writes every byte, through
// the source's WriteTo where it has one, else in reads of its own (short
// ones too), and the file holds them after Sync.
func TestLocalReadFrom(t *testing.T) {
	data := make([]byte, 3*copyBuffer+17)
	rand.Read(data)
	root := t.TempDir()
	ep := New(root)
	defer ep.Close()
	wt := &writerTo{Reader: bytes.NewReader(data)}
	for name, src := range map[string]io.Reader{"/a": wt, "/b": iotest.HalfReader(bytes.NewReader(data))} {
		w, err := ep.Create(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		rf, ok := w.(io.ReaderFrom)
		if !ok {
			t.Fatal("a local file has no ReadFrom")
		}
		if n, err := rf.ReadFrom(src); n != int64(len(data)) || err != nil {
			t.Fatalf("%s: ReadFrom %d of %d bytes: %v", name, n, len(data), err)
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s holds %d of %d bytes, or others: %v", name, len(got), len(data), err)
		}
	}
	if wt.calls != 1 {
		t.Fatalf("the source's WriteTo called %d times, want once", wt.calls)
	}
}
