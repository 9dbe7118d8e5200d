package sftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/endpointtest"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestLstatFollows: READLINK goes beside LSTAT on every server but those
// known to lstat the path itself, OpenSSH and our in-process server.
func TestLstatFollows(t *testing.T) {
	for v, want := range map[string]bool{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3": false,
		"SSH-2.0-OpenSSH_8.0":                    false,
		"SSH-2.0-exchanged_sftpd":                false,
		"SSH-2.0-mod_sftp":                       true, // ProFTPD
		"SSH-2.0-mod_sftp/1.1.1":                 true,
		"SSH-2.0-Go":                             true,
		"SSH-2.0-OpenSSHish":                     true,
		"SSH-2.0-SomeVendor_1.0 OpenSSH_9.2":     true,
		"":                                       true,
	} {
		if got := lstatFollows(v); got != want {
			t.Errorf("lstatFollows(%q) = %v, want %v", v, got, want)
		}
	}
}

// testSymlinkRefused: on the server behind cfg, Stat shows a symlink (to
// a file, a directory, nothing) as a symlink and Open refuses it with
// endpoint.ErrNotRegular and a security event, whether the server's LSTAT shows
// it or only READLINK does; the endpoint sends READLINK iff readlink.
// base is a directory of the server's, disk maps its paths to the OS's.
func testSymlinkRefused(t *testing.T, cfg config.SFTP, base string, disk func(string) string, readlink bool) {
	t.Helper()
	ctx := context.Background()
	core, logs := observer.New(zap.InfoLevel)
	ep := New("acme", cfg, zap.New(core), nil)
	defer ep.Close()
	if err := os.WriteFile(disk(path.Join(base, "a.csv")), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(disk(path.Join(base, "sub")), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"file.csv": "a.csv", "dir.csv": "sub", "dangling.csv": "nothere"} {
		if err := os.Symlink(target, disk(path.Join(base, link))); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := ep.Stat(ctx, path.Join(base, "a.csv")); err != nil || !fi.IsRegular() || fi.Size != 5 {
		t.Fatalf("Stat(a.csv) = %+v, %v", fi, err)
	}
	ep.mu.Lock()
	sends := ep.readlink
	ep.mu.Unlock()
	if sends != readlink {
		t.Errorf("READLINK beside LSTAT = %v, want %v", sends, readlink)
	}
	for _, link := range []string{"file.csv", "dir.csv", "dangling.csv"} {
		p := path.Join(base, link)
		if fi, err := ep.Stat(ctx, p); err != nil || fi.Mode&fs.ModeSymlink == 0 {
			t.Errorf("Stat(%s) = %+v, %v; want a symlink", link, fi, err)
		}
		logs.TakeAll()
		if r, err := ep.Open(ctx, p); !errors.Is(err, endpoint.ErrNotRegular) {
			if err == nil {
				r.Close()
			}
			t.Errorf("Open(%s) = %v, want endpoint.ErrNotRegular", link, err)
		}
		ev := logs.FilterMessage("symlink refused").All()
		if len(ev) != 1 || ev[0].ContextMap()["security"] != true || ev[0].ContextMap()["file"] != link ||
			ev[0].ContextMap()["partner"] != "acme" {
			t.Errorf("Open(%s) logged %+v; want one security event naming the file", link, ev)
		}
	}
	// A regular file opens; opening it sent no READLINK that failed it.
	r, err := ep.Open(ctx, path.Join(base, "a.csv"))
	if err != nil {
		t.Fatalf("Open(a.csv) = %v", err)
	}
	r.Close()
}

func TestSFTPInprocSymlinkRefused(t *testing.T) {
	for _, tc := range []struct {
		version  string
		readlink bool
	}{{"", false}, {"SSH-2.0-SomeVendor_1.0", true}} {
		t.Run(fmt.Sprintf("readlink=%v", tc.readlink), func(t *testing.T) {
			s := sftptest.StartInproc(t, sftpd.Options{ServerVersion: tc.version})
			testSymlinkRefused(t, s.Config, "/", func(p string) string { return filepath.Join(s.Root, p) }, tc.readlink)
		})
	}
}

func TestOpenSSHSymlinkRefused(t *testing.T) {
	s := sshdtest.Start(t)
	testSymlinkRefused(t, sftptest.OpenSSH(t, s), t.TempDir(), func(p string) string { return p }, false)
}

// TestProFTPDSymlinkRefused: ProFTPD's LSTAT shows a symlink's target
// (one to nothing as a symlink); READLINK tells it apart.
func TestProFTPDSymlinkRefused(t *testing.T) {
	s := proftpdtest.Start(t)
	s.Mkdir(t, "/d")
	testSymlinkRefused(t, sftptest.ProFTPD(t, s), "/d", s.Path, true)
}

// TestSFTPInprocConformanceUnknownServer: the endpoint.Endpoint contract on a
// server not known by name, so with READLINK beside every LSTAT, which
// pkg/sftp's server answers for a regular file with status 4 (ProFTPD:
// status 8).
func TestSFTPInprocConformanceUnknownServer(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		s := sftptest.StartInproc(t, sftpd.Options{ServerVersion: "SSH-2.0-SomeVendor_1.0"})
		ep := New("p", s.Config, nil, nil)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: "/", Disk: func(p string) string { return filepath.Join(s.Root, p) }}
	})
}

// TestSFTPReadlinkRefused: where READLINK is needed and the server refuses
// it, a file cannot be told from a symlink: Stat and Open fail, saying
// why, and nothing is read. A listing is not affected.
func TestSFTPReadlinkRefused(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{ServerVersion: "SSH-2.0-mod_sftp", NoReadlink: true})
	os.WriteFile(filepath.Join(s.Root, "a.csv"), []byte("12345"), 0o644)
	ep := New("p", s.Config, nil, nil)
	defer ep.Close()
	ctx := context.Background()
	ents, err := ep.List(ctx, "/")
	if err != nil || len(ents) != 1 {
		t.Fatalf("List = %+v, %v", ents, err)
	}
	_, serr := ep.Stat(ctx, "/a.csv")
	_, oerr := ep.Open(ctx, "/a.csv")
	_, lerr := ep.OpenListed(ctx, "/a.csv", ents[0])
	for name, err := range map[string]error{"Stat": serr, "Open": oerr, "OpenListed": lerr} {
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "readlink") {
			t.Errorf("%s = %v; want the refused readlink, permission denied", name, err)
		}
	}
}
