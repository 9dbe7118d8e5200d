package exchange

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sftpd"
)

// clientKey is an ed25519 key in OpenSSH PEM form, and its signer.
type clientKey struct {
	pem    []byte
	signer ssh.Signer
}

func newClientKey(t testing.TB, passphrase string) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{pem: pem.EncodeToMemory(block), signer: s}
}

// inproc is an in-process SFTP server and the config to reach it.
type inproc struct {
	srv  *sftpd.Server
	root string
	cfg  config.SFTP
}

func startInproc(t testing.TB, opts sftpd.Options) *inproc {
	t.Helper()
	key := newClientKey(t, "")
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.User == "" {
		opts.User = "incasso"
	}
	opts.AuthorizedKeys = append(opts.AuthorizedKeys, key.signer.PublicKey())
	srv, err := sftpd.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, port := splitHostPort(t, srv.Addr())
	return &inproc{srv: srv, root: opts.Root, cfg: config.SFTP{
		Host: host, Port: port, User: opts.User,
		PrivateKey: config.Secret{Ref: "env:TEST_KEY", Value: key.pem},
		HostKey:    srv.Fingerprint(),
		Timeout:    config.Duration(10 * time.Second),
	}}
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	var port int
	for _, c := range addr[i+1:] {
		port = port*10 + int(c-'0')
	}
	return addr[:i], port
}

func TestSFTPInprocConformance(t *testing.T) {
	testConformance(t, func(t *testing.T) fixture {
		s := startInproc(t, sftpd.Options{})
		ep := NewSFTP("p", s.cfg, nil, nil)
		t.Cleanup(func() { ep.Close() })
		return fixture{ep: ep, base: "/", disk: func(p string) string { return filepath.Join(s.root, p) }}
	})
}

func TestSFTPInprocConformanceNoPosixRename(t *testing.T) {
	testConformance(t, func(t *testing.T) fixture {
		s := startInproc(t, sftpd.Options{NoPosixRename: true})
		ep := NewSFTP("p", s.cfg, nil, nil)
		t.Cleanup(func() { ep.Close() })
		return fixture{ep: ep, base: "/", disk: func(p string) string { return filepath.Join(s.root, p) }}
	})
}

func TestSFTPReconnectsAfterLostConnection(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	os.WriteFile(filepath.Join(s.root, "a.csv"), []byte("x"), 0o600)
	ep := NewSFTP("p", s.cfg, nil, nil)
	defer ep.Close()
	ctx := context.Background()
	if _, err := ep.List(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	s.srv.DropConnections()
	ents, err := ep.List(ctx, "/")
	if err != nil || len(ents) != 1 || ents[0].Name != "a.csv" {
		t.Fatalf("List after a dropped connection = %v, %v; want a.csv on a new connection", ents, err)
	}
}

func TestSFTPPasswordAuth(t *testing.T) {
	s := startInproc(t, sftpd.Options{Password: "correct horse"})
	ctx := context.Background()
	cfg := s.cfg
	cfg.PrivateKey = config.Secret{}
	cfg.Password = config.Secret{Ref: "env:PW", Value: []byte("correct horse")}
	ep := NewSFTP("p", cfg, nil, nil)
	if _, err := ep.List(ctx, "/"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	ep.Close()
	cfg.Password.Value = []byte("wrong")
	ep = NewSFTP("p", cfg, nil, nil)
	_, err := ep.List(ctx, "/")
	if !errors.Is(err, ErrAuth) || !IsPermanent(err) {
		t.Fatalf("wrong password: %v; want permanent ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestSFTPPinnedHostKeyMismatch(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	other := newClientKey(t, "")
	cfg := s.cfg
	cfg.HostKey = ssh.FingerprintSHA256(other.signer.PublicKey())
	core, logs := observer.New(zap.InfoLevel)
	ep := NewSFTP("acme", cfg, zap.New(core), nil)
	_, err := ep.List(context.Background(), "/")
	if !errors.Is(err, ErrHostKeyChanged) || !IsPermanent(err) {
		t.Fatalf("err = %v, want permanent ErrHostKeyChanged", err)
	}
	ev := logs.FilterMessage("host key refused").All()
	if len(ev) != 1 {
		t.Fatalf("want one security event, got %d", len(ev))
	}
	f := ev[0].ContextMap()
	if f["security"] != true || f["partner"] != "acme" || f["outcome"] != "mismatch" || f["presented"] != s.srv.Fingerprint() {
		t.Fatalf("security event fields = %v", f)
	}
}

func TestSFTPKeyErrors(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	ctx := context.Background()
	t.Run("unreadable key", func(t *testing.T) {
		cfg := s.cfg
		cfg.PrivateKey = config.Secret{Ref: "file:/run/secrets/k", Value: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")}
		_, err := NewSFTP("p", cfg, nil, nil).List(ctx, "/")
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "file:/run/secrets/k") {
			t.Fatalf("err = %v; want a permanent error naming the key reference", err)
		}
	})
	t.Run("encrypted key without passphrase", func(t *testing.T) {
		cfg := s.cfg
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: newClientKey(t, "sesam").pem}
		_, err := NewSFTP("p", cfg, nil, nil).List(ctx, "/")
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "passphrase") {
			t.Fatalf("err = %v; want a permanent error asking for the passphrase", err)
		}
	})
	t.Run("encrypted key with passphrase", func(t *testing.T) {
		key := newClientKey(t, "sesam")
		s2 := startInproc(t, sftpd.Options{AuthorizedKeys: []ssh.PublicKey{key.signer.PublicKey()}})
		cfg := s2.cfg
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: key.pem}
		cfg.Passphrase = config.Secret{Ref: "env:P", Value: []byte("sesam")}
		ep := NewSFTP("p", cfg, nil, nil)
		defer ep.Close()
		if _, err := ep.List(ctx, "/"); err != nil {
			t.Fatal(err)
		}
	})
}

// A rename onto another file, alike to ours by lstat (same size, mtime,
// mode, owner), is refused with ErrExists: Rename never takes it for a
// link of ours left by a crash, and our file stays.
func TestRenameOntoFileAlikeIsExists(t *testing.T) {
	srv := startInproc(t, sftpd.Options{})
	mkdirs(t, srv.root, "in")
	ep := NewSFTP("p", srv.cfg, zap.NewNop(), nil)
	defer ep.Close()
	final := filepath.Join(srv.root, "in", "a.csv")
	tmp := filepath.Join(srv.root, "in", ".exchanged-2-0-deadbeef.part")
	writeAlike(t, final, "AAAA earlier file", tmp, "BBBB our new file")
	err := ep.Rename(t.Context(), "/in/.exchanged-2-0-deadbeef.part", "/in/a.csv")
	if !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto another file = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(tmp); string(b) != "BBBB our new file" {
		t.Errorf("our file = %q, want it kept", b)
	}
	if b, _ := os.ReadFile(final); string(b) != "AAAA earlier file" {
		t.Errorf("the other file = %q", b)
	}
}

// writeAlike writes two files of one size with one mtime (seconds).
func writeAlike(t *testing.T, a, adata, b, bdata string) {
	t.Helper()
	ts := time.Now().Truncate(time.Second)
	for _, f := range [][2]string{{a, adata}, {b, bdata}} {
		if err := os.WriteFile(f[0], []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f[0], ts, ts); err != nil {
			t.Fatal(err)
		}
	}
}
