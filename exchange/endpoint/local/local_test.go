package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
