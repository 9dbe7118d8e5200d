package sftp

import (
	"context"
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
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/endpointtest"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/sftpd"
)

func TestSFTPInprocConformance(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		s := sftptest.StartInproc(t, sftpd.Options{})
		ep := New("p", s.Config, nil, nil)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: "/", Disk: func(p string) string { return filepath.Join(s.Root, p) }}
	})
}

func TestSFTPInprocConformanceNoPosixRename(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		s := sftptest.StartInproc(t, sftpd.Options{NoPosixRename: true})
		ep := New("p", s.Config, nil, nil)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: "/", Disk: func(p string) string { return filepath.Join(s.Root, p) }}
	})
}

func TestSFTPReconnectsAfterLostConnection(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	os.WriteFile(filepath.Join(s.Root, "a.csv"), []byte("x"), 0o600)
	ep := New("p", s.Config, nil, nil)
	defer ep.Close()
	ctx := context.Background()
	if _, err := ep.List(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	s.Server.DropConnections()
	ents, err := ep.List(ctx, "/")
	if err != nil || len(ents) != 1 || ents[0].Name != "a.csv" {
		t.Fatalf("List after a dropped connection = %v, %v; want a.csv on a new connection", ents, err)
	}
}

func TestSFTPPasswordAuth(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{Password: "correct horse"})
	ctx := context.Background()
	cfg := s.Config
	cfg.PrivateKey = config.Secret{}
	cfg.Password = config.Secret{Ref: "env:PW", Value: []byte("correct horse")}
	ep := New("p", cfg, nil, nil)
	if _, err := ep.List(ctx, "/"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	ep.Close()
	cfg.Password.Value = []byte("wrong")
	ep = New("p", cfg, nil, nil)
	_, err := ep.List(ctx, "/")
	if !errors.Is(err, endpoint.ErrAuth) || !endpoint.IsPermanent(err) {
		t.Fatalf("wrong password: %v; want permanent endpoint.ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestSFTPPinnedHostKeyMismatch(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	other := sftptest.NewKey(t, "")
	cfg := s.Config
	cfg.HostKey = ssh.FingerprintSHA256(other.Signer.PublicKey())
	core, logs := observer.New(zap.InfoLevel)
	ep := New("acme", cfg, zap.New(core), nil)
	_, err := ep.List(context.Background(), "/")
	if !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyChanged", err)
	}
	ev := logs.FilterMessage("host key refused").All()
	if len(ev) != 1 {
		t.Fatalf("want one security event, got %d", len(ev))
	}
	f := ev[0].ContextMap()
	if f["security"] != true || f["partner"] != "acme" || f["outcome"] != "mismatch" || f["presented"] != s.Server.Fingerprint() {
		t.Fatalf("security event fields = %v", f)
	}
}

func TestSFTPKeyErrors(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	ctx := context.Background()
	t.Run("unreadable key", func(t *testing.T) {
		cfg := s.Config
		cfg.PrivateKey = config.Secret{Ref: "file:/run/secrets/k", Value: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")}
		_, err := New("p", cfg, nil, nil).List(ctx, "/")
		if err == nil || !endpoint.IsPermanent(err) || !strings.Contains(err.Error(), "file:/run/secrets/k") {
			t.Fatalf("err = %v; want a permanent error naming the key reference", err)
		}
	})
	t.Run("encrypted key without passphrase", func(t *testing.T) {
		cfg := s.Config
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: sftptest.NewKey(t, "sesam").PEM}
		_, err := New("p", cfg, nil, nil).List(ctx, "/")
		if err == nil || !endpoint.IsPermanent(err) || !strings.Contains(err.Error(), "passphrase") {
			t.Fatalf("err = %v; want a permanent error asking for the passphrase", err)
		}
	})
	t.Run("encrypted key with passphrase", func(t *testing.T) {
		key := sftptest.NewKey(t, "sesam")
		s2 := sftptest.StartInproc(t, sftpd.Options{AuthorizedKeys: []ssh.PublicKey{key.Signer.PublicKey()}})
		cfg := s2.Config
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: key.PEM}
		cfg.Passphrase = config.Secret{Ref: "env:P", Value: []byte("sesam")}
		ep := New("p", cfg, nil, nil)
		defer ep.Close()
		if _, err := ep.List(ctx, "/"); err != nil {
			t.Fatal(err)
		}
	})
}

// A partner's connection limit is waited for with a bound, never for ever.
func TestConnectionLimitWaitIsBounded(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	cfg := s.Config
	cfg.Timeout = config.Duration(50 * time.Millisecond)
	sem := make(chan struct{}, 1)
	sem <- struct{}{} // another run holds the only slot
	_, err := New("acme", cfg, nil, sem).List(context.Background(), "/")
	if err == nil || !strings.Contains(err.Error(), "no free connection to partner acme") || !endpoint.IsTransient(err) {
		t.Fatalf("err = %v; want a transient 'no free connection' error", err)
	}
}

// A rename onto another file, alike to ours by lstat (same size, mtime,
// mode, owner), is refused with endpoint.ErrExists: Rename never takes it
// for a link of ours left by a crash, and our file stays.
func TestRenameOntoFileAlikeIsExists(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	if err := os.MkdirAll(filepath.Join(s.Root, "in"), 0o700); err != nil {
		t.Fatal(err)
	}
	ep := New("p", s.Config, zap.NewNop(), nil)
	defer ep.Close()
	final := filepath.Join(s.Root, "in", "a.csv")
	tmp := filepath.Join(s.Root, "in", ".exchanged-2-0-deadbeef.part")
	sftptest.WriteAlike(t, final, "AAAA earlier file", tmp, "BBBB our new file")
	err := ep.Rename(t.Context(), "/in/.exchanged-2-0-deadbeef.part", "/in/a.csv")
	if !errors.Is(err, endpoint.ErrExists) {
		t.Errorf("Rename onto another file = %v, want endpoint.ErrExists", err)
	}
	if b, _ := os.ReadFile(tmp); string(b) != "BBBB our new file" {
		t.Errorf("our file = %q, want it kept", b)
	}
	if b, _ := os.ReadFile(final); string(b) != "AAAA earlier file" {
		t.Errorf("the other file = %q", b)
	}
}
