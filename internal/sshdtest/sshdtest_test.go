package sshdtest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// connect logs in with the server's client key file and known_hosts file, as the daemon
// would from its config: asking for the key type known_hosts holds, of the three the server
// has.
func connect(t *testing.T, s *sshdtest.Server) (*sftp.Client, *ssh.Client, error) {
	t.Helper()
	pemBytes, err := os.ReadFile(s.ClientKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatalf("client key file: %v", err)
	}
	hostKeys, err := knownhosts.New(s.KnownHostsPath)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c, conn, nil
}

func TestStartWriteRead(t *testing.T) {
	s := sshdtest.Start(t)
	if s.Host != "127.0.0.1" || s.Port == 0 || !strings.HasSuffix(s.Addr, ":"+strconv.Itoa(s.Port)) {
		t.Fatalf("address fields: %q %d %q", s.Host, s.Port, s.Addr)
	}
	if !filepath.IsAbs(s.Root) || !strings.HasPrefix(s.Fingerprint, "SHA256:") ||
		s.Fingerprint != ssh.FingerprintSHA256(s.HostKey) {
		t.Fatalf("Root %q, Fingerprint %q", s.Root, s.Fingerprint)
	}
	kh, err := os.ReadFile(s.KnownHostsPath)
	if err != nil || !strings.HasPrefix(string(kh), "[127.0.0.1]:"+strconv.Itoa(s.Port)+" ssh-ed25519 ") {
		t.Fatalf("known_hosts = %q, %v", kh, err)
	}
	if fi, err := os.Stat(s.ClientKeyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client key mode: %v, %v", fi.Mode(), err)
	}

	c, _, err := connect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.HasExtension("posix-rename@openssh.com"); !ok {
		t.Error("OpenSSH did not offer posix-rename@openssh.com")
	}
	remote := path.Join(filepath.ToSlash(s.Root), "claims.csv")
	content := bytes.Repeat([]byte("Klantnummer;Bedrag\n"), 5000)
	peer.Upload(t, c, remote, filepath.Join(s.Root, "claims.csv"), content)
	r, err := c.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(back, content) {
		t.Fatalf("read back: %d bytes, %v", len(back), err)
	}

	// The helper's own config works too.
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestChangedHostKeyRefused(t *testing.T) {
	s := sshdtest.Start(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	// A known_hosts file that remembers another key for this address.
	khPath := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, otherKey.PublicKey())
	if err := os.WriteFile(khPath, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(khPath)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: hostKeys,
		Timeout:         10 * time.Second,
	})
	if err == nil {
		conn.Close()
		t.Fatal("dial accepted a host key other than the known one")
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		t.Fatalf("dial: %v, want a changed-key error", err)
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	s := sshdtest.Start(t)
	conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.Password("not-the-password")},
		HostKeyCallback:   ssh.FixedHostKey(s.HostKey),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
	if err == nil {
		conn.Close()
		t.Fatal("wrong password accepted")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("wrong password: %v, want an authentication failure", err)
	}
	// Failed logins do not get 127.0.0.1 blocked.
	if _, _, err := connect(t, s); err != nil {
		t.Fatalf("login after a failed one: %v", err)
	}
}

func TestStopRestart(t *testing.T) {
	s := sshdtest.Start(t)
	c, conn, err := connect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(s.Root); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	// The live session is cut, not just the listener.
	done := make(chan error, 1)
	go func() { done <- conn.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("session survived Stop")
	}
	if _, err := c.Stat(s.Root); err == nil {
		t.Fatal("Stat on a stopped server succeeded")
	}
	if _, _, err := connect(t, s); err == nil {
		t.Fatal("dial after Stop succeeded")
	}
	s.Stop() // twice is fine

	s.Restart(t)
	c2, _, err := connect(t, s) // same port, same known_hosts, same key
	if err != nil {
		t.Fatalf("after Restart: %v\n%s", err, s.LogTail())
	}
	if err := c2.Mkdir(path.Join(filepath.ToSlash(s.Root), "back")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(s.Root, "back")); err != nil || !fi.IsDir() {
		t.Fatalf("mkdir after restart: %v", err)
	}
	s.Restart(t) // restarting a running server stops it first
	if _, _, err := connect(t, s); err != nil {
		t.Fatal(err)
	}
}

func TestAvailable(t *testing.T) {
	err := sshdtest.Available()
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatalf("Available: %v", err)
	}
	if err != nil {
		t.Skipf("Available: %v", err)
	}
}

// TestHostKeys: the server offers each of its three host keys, each as HostKeys describes it.
func TestHostKeys(t *testing.T) {
	s := sshdtest.Start(t)
	peer.CheckHostKeys(t, s.Addr, s.User, s.ClientSigner, s.HostKeys,
		[]string{ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519})
	if last := s.HostKeys[2]; last.Fingerprint != s.Fingerprint || !bytes.Equal(last.PublicKey.Marshal(), s.HostKey.Marshal()) {
		t.Fatalf("HostKey/Fingerprint are not the Ed25519 key of HostKeys")
	}
}

// TestDropUser: the chrooted user may upload into its 0733 drop folder, and stat, rename
// and remove there by name, but not list it, nor see anything outside its chroot.
func TestDropUser(t *testing.T) {
	s := sshdtest.Start(t)
	if os.Geteuid() != 0 {
		if s.DropUser != "" {
			t.Fatalf("DropUser %q without root", s.DropUser)
		}
		t.Skip("the drop user needs root")
	}
	if fi, err := os.Stat(s.DropPath); err != nil || fi.Mode().Perm() != 0o733 || s.DropPath != filepath.Join(s.DropRoot, "drop") {
		t.Fatalf("DropPath %q: %v, %v", s.DropPath, fi, err)
	}
	cfg, err := s.DropClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := path.Join(s.DropDir, "a.csv")
	peer.Upload(t, c, p, filepath.Join(s.DropPath, "a.csv"), []byte("x;y\n"))
	if _, err := c.ReadDir(s.DropDir); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("ReadDir(drop) = %v, want permission denied", err)
	}
	if _, err := c.Lstat(p); err != nil {
		t.Fatalf("Lstat by name: %v", err)
	}
	if err := c.Rename(p, path.Join(s.DropDir, "b.csv")); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if _, err := c.Lstat(s.Root); err == nil {
		t.Fatal("the drop user sees outside its chroot")
	}
}
