package exchange

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/proftpdtest"
)

// proftpdConfig returns the endpoint config for a real ProFTPD, verifying
// its host key through the known_hosts file the harness wrote (a line for
// each of its keys).
func proftpdConfig(t testing.TB, s *proftpdtest.Server) config.SFTP {
	t.Helper()
	key, err := os.ReadFile(s.ClientKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	return config.SFTP{Host: s.Host, Port: s.Port, User: s.User,
		PrivateKey: config.Secret{Ref: "file:" + s.ClientKeyPath, Value: key},
		KnownHosts: s.KnownHostsPath, Timeout: config.Duration(10 * time.Second)}
}

// TestProFTPDConformance: the Endpoint contract on ProFTPD's mod_sftp,
// whose user is chrooted: paths are under its root. ProFTPD resolves
// symlinks in every path before LSTAT and OPEN, so those two cannot tell
// a symlink from its target there; READDIR shows it.
func TestProFTPDConformance(t *testing.T) {
	s := proftpdtest.Start(t)
	var n atomic.Int64
	testConformance(t, func(t *testing.T) fixture {
		base := fmt.Sprintf("/t%d", n.Add(1))
		s.Mkdir(t, base)
		ep := NewSFTP("p", proftpdConfig(t, s), nil, nil)
		t.Cleanup(func() { ep.Close() })
		return fixture{ep: ep, base: base, disk: s.Path, lstatFollows: true}
	})
}

// TestProFTPDRenameStatus11: ProFTPD refuses a rename onto an existing
// target with status 11 (SSH_FX_FILE_ALREADY_EXISTS), which reads as
// ErrExists. Rename looks first, so the plain SFTP rename is sent here
// directly, and its answer mapped as Rename maps it.
func TestProFTPDRenameStatus11(t *testing.T) {
	s := proftpdtest.Start(t)
	s.Mkdir(t, "/d")
	os.WriteFile(s.Path("/d/a"), []byte("new"), 0o644)
	os.WriteFile(s.Path("/d/b"), []byte("partner's"), 0o644)
	ep := NewSFTP("p", proftpdConfig(t, s), nil, nil)
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
	if err := ep.Rename(context.Background(), "/d/a", "/d/b"); !errors.Is(err, ErrExists) {
		t.Fatalf("Rename = %v, want ErrExists", err)
	}
}
