package proftpdtest_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

func connect(t *testing.T, s *proftpdtest.Server, cfg *ssh.ClientConfig) *sftp.Client {
	t.Helper()
	conn, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func TestStartWriteRead(t *testing.T) {
	s := proftpdtest.Start(t)
	if s.Host != "127.0.0.1" || s.Port == 0 || !strings.HasSuffix(s.Addr, ":"+strconv.Itoa(s.Port)) {
		t.Fatalf("address fields: %q %d %q", s.Host, s.Port, s.Addr)
	}
	kh, err := os.ReadFile(s.KnownHostsPath)
	if err != nil || strings.Count(string(kh), "\n") != 2 {
		t.Fatalf("known_hosts = %q, %v; want a line per host key", kh, err)
	}
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s, cfg)
	dir := s.Mkdir(t, "/in/sub")
	if dir != filepath.Join(s.Root, "in", "sub") {
		t.Fatalf("Mkdir = %q", dir)
	}
	content := bytes.Repeat([]byte("Klantnummer;Bedrag\n"), 5000)
	peer.Upload(t, c, "/in/sub/claims.csv", filepath.Join(dir, "claims.csv"), content)
	r, err := c.Open("/in/sub/claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if back, err := io.ReadAll(r); err != nil || !bytes.Equal(back, content) {
		t.Fatalf("read back: %d bytes, %v", len(back), err)
	}
	if _, err := c.Lstat("/../../etc/passwd"); err == nil {
		// Chrooted: "/.." is "/", and there is no /etc there.
		t.Fatal("the user sees outside its root")
	}
}

// TestHostKeys: each host key is offered, and pinning it alone connects.
func TestHostKeys(t *testing.T) {
	s := proftpdtest.Start(t)
	peer.CheckHostKeys(t, s.Addr, s.User, s.ClientSigner, s.HostKeys, []string{ssh.KeyAlgoRSA, ssh.KeyAlgoED25519})
}

func TestPassword(t *testing.T) {
	s := proftpdtest.Start(t)
	if s.Password == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no password: openssl, which hashes it, is missing (.ci/run installs it)")
		}
		t.Skip("no password (openssl missing)")
	}
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = []ssh.AuthMethod{ssh.Password(s.Password)}
	connect(t, s, cfg)
	cfg.Auth = []ssh.AuthMethod{ssh.Password("wrong-" + s.Password)}
	if conn, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		conn.Close()
		t.Fatal("wrong password accepted")
	}
}

// TestDropFolder: in the drop folder only an upload works; what each other request gets.
func TestDropFolder(t *testing.T) {
	s := proftpdtest.Start(t)
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s, cfg)
	p := path.Join(s.DropDir, "a.csv")
	peer.Upload(t, c, p, filepath.Join(s.DropPath, "a.csv"), []byte("x;y\n"))
	os.WriteFile(filepath.Join(s.DropPath, "theirs.csv"), []byte("z"), 0o644)
	denied := func(op string, err error) {
		t.Helper()
		// pkg/sftp turns status 3 (SSH_FX_PERMISSION_DENIED) into os.ErrPermission.
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("%s = %v, want permission denied", op, err)
		}
	}
	_, err = c.Lstat(p)
	denied("lstat", err)
	_, err = c.Stat(p)
	denied("stat", err)
	_, err = c.Open(p)
	denied("open for reading", err)
	denied("rename", c.Rename(p, path.Join(s.DropDir, "b.csv")))
	denied("remove", c.Remove(p))
	denied("mkdir", c.Mkdir(path.Join(s.DropDir, "sub")))
	denied("chmod", c.Chmod(p, 0o600))
	_, err = c.ReadDir(s.DropDir) // refused at OPENDIR
	denied("list", err)
	if _, err := os.Stat(filepath.Join(s.DropPath, "a.csv")); err != nil {
		t.Fatal("upload gone")
	}
}

func TestStopRestart(t *testing.T) {
	s := proftpdtest.Start(t)
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	connect(t, s, cfg)
	s.Stop()
	if conn, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		conn.Close()
		t.Fatal("dial after Stop succeeded")
	}
	s.Restart(t)
	connect(t, s, cfg)
}

func TestAvailable(t *testing.T) {
	err := proftpdtest.Available()
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatalf("Available: %v", err)
	}
	if err != nil {
		t.Skipf("Available: %v", err)
	}
}
