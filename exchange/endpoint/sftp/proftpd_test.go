package sftp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/endpointtest"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/proftpdtest"
)

// TestProFTPDConformance: the endpoint.Endpoint contract on ProFTPD's mod_sftp,
// whose user is chrooted: paths are under its root. ProFTPD resolves
// symlinks in every path before LSTAT and OPEN, so those two cannot tell
// a symlink from its target there; READDIR and READLINK can, and the
// symlink checks hold as on every other server.
func TestProFTPDConformance(t *testing.T) {
	s := proftpdtest.Start(t)
	var n atomic.Int64
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		base := fmt.Sprintf("/t%d", n.Add(1))
		s.Mkdir(t, base)
		ep := New("p", sftptest.ProFTPD(t, s), nil, nil)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: base, Disk: s.Path}
	})
}

// TestProFTPDRenameStatus11: ProFTPD refuses a rename onto an existing
// target with status 11 (SSH_FX_FILE_ALREADY_EXISTS), which reads as
// endpoint.ErrExists. Rename looks first, so the plain SFTP rename is sent here
// directly, and its answer mapped as Rename maps it.
func TestProFTPDRenameStatus11(t *testing.T) {
	s := proftpdtest.Start(t)
	s.Mkdir(t, "/d")
	os.WriteFile(s.Path("/d/a"), []byte("new"), 0o644)
	os.WriteFile(s.Path("/d/b"), []byte("partner's"), 0o644)
	ep := New("p", sftptest.ProFTPD(t, s), nil, nil)
	defer ep.Close()
	c, err := ep.client_(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = c.Rename("/d/a", "/d/b")
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != fxFileAlreadyExists || !alreadyExists(err) {
		t.Fatalf("rename onto an existing file = %#v, want status 11", err)
	}
	if b, _ := os.ReadFile(s.Path("/d/b")); string(b) != "partner's" {
		t.Fatal("the target was replaced")
	}
	if err := ep.Rename(context.Background(), "/d/a", "/d/b"); !errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("Rename = %v, want endpoint.ErrExists", err)
	}
}
